/**
 * Command-line parsing for the experiment runner: every flag typed and range-checked, so a typo is a
 * clear error (exit code 2), never a silently different experiment.
 */
import { WIRE_FORMATS } from '../../src/mesh/half-codec.ts';
import { DEFAULT_CONFIG, type BnMode, type PermutationKind, type TrainConfig } from '../../src/train/types.ts';

export interface ExperimentArgs {
  tabs: number;
  config: TrainConfig;
  backend: 'auto' | 'webgpu' | 'cpu';
  traceEvery: number;
  traceChannels: number;
  printEvery: number;
  out: string | null;
  netns: boolean;
  help: boolean;
}

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export const USAGE = `usage: npm run experiment -- [options]
  --tabs N               browser tabs (peers), 1-16                    [2]
  --workers-per-tab V    virtual workers per tab, 1-64                 [${DEFAULT_CONFIG.workersPerTab}]
  --mode M               local | shuffle | sync | samples              [${DEFAULT_CONFIG.mode}]
  --compare M            also train a second model with BN mode M in the same run [off]
  --permutation P        random | cyclic                               [${DEFAULT_CONFIG.permutation}]
  --steps S              training steps                                [${DEFAULT_CONFIG.steps}]
  --seed K               run seed (data, init, permutations)           [${DEFAULT_CONFIG.seed}]
  --batch B              samples per worker (>= 2)                     [${DEFAULT_CONFIG.batchPerWorker}]
  --queue K              negative queue size                           [${DEFAULT_CONFIG.queueSize}]
  --lr X                 SGD learning rate                             [${DEFAULT_CONFIG.lr}]
  --temperature T        InfoNCE temperature                           [${DEFAULT_CONFIG.temperature}]
  --knn-every N          kNN evaluation period in steps, 0 = never     [${DEFAULT_CONFIG.knnEvery}]
  --hidden A,B           hidden widths                                 [${DEFAULT_CONFIG.hiddenDims.join(',')}]
  --wire F               gradients between tabs: f32 | f16 | bf16      [${DEFAULT_CONFIG.gradientWire}]
  --backend B            auto | webgpu | cpu                           [auto]
  --trace-every N        record BN statistics every N steps, 0 = never [1]
  --trace-channels C     channels per BN layer kept in the log         [32]
  --print-every N        print the check lines every N steps           [1]
  --out FILE             write the JSON run log here
  --no-netns             run on the host network even as root`;

const MODES: readonly BnMode[] = ['local', 'shuffle', 'sync', 'samples'];
const PERMS: readonly PermutationKind[] = ['random', 'cyclic'];

function int(name: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  return v;
}

function num(name: string, raw: string, min: number, max: number): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got '${raw}'`);
  return v;
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
  return raw as T;
}

export function parseExperimentArgs(argv: readonly string[]): ExperimentArgs {
  const config: TrainConfig = { ...DEFAULT_CONFIG, hiddenDims: [...DEFAULT_CONFIG.hiddenDims] };
  const out: ExperimentArgs = { tabs: 2, config, backend: 'auto', traceEvery: 1, traceChannels: 32, printEvery: 1, out: null, netns: true, help: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') {
      out.help = true;
      continue;
    }
    if (flag === '--no-netns') {
      out.netns = false;
      continue;
    }
    if (!flag.startsWith('--')) throw new UsageError(`unexpected argument '${flag}'`);
    const name = flag.slice(2);
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    switch (name) {
      case 'tabs': out.tabs = int(name, value, 1, 16); break;
      case 'workers-per-tab': config.workersPerTab = int(name, value, 1, 64); break;
      case 'mode': config.mode = oneOf(name, value, MODES); break;
      case 'compare': config.compareWith = oneOf(name, value, MODES); break;
      case 'permutation': config.permutation = oneOf(name, value, PERMS); break;
      case 'steps': config.steps = int(name, value, 1, 1_000_000); break;
      case 'seed': config.seed = int(name, value, 0, 2 ** 31 - 1); break;
      case 'batch': config.batchPerWorker = int(name, value, 2, 4096); break;
      case 'queue': config.queueSize = int(name, value, 1, 1 << 20); break;
      case 'lr': config.lr = num(name, value, 0, 10); break;
      case 'temperature': config.temperature = num(name, value, 1e-4, 100); break;
      case 'knn-every': config.knnEvery = int(name, value, 0, 1_000_000); break;
      case 'wire': config.gradientWire = oneOf(name, value, WIRE_FORMATS); break;
      case 'hidden': config.hiddenDims = value.split(',').map((w) => int(name, w, 1, 8192)); break;
      case 'backend': out.backend = oneOf(name, value, ['auto', 'webgpu', 'cpu'] as const); break;
      case 'trace-every': out.traceEvery = int(name, value, 0, 1_000_000); break;
      case 'trace-channels': out.traceChannels = int(name, value, 1, 8192); break;
      case 'print-every': out.printEvery = int(name, value, 1, 1_000_000); break;
      case 'out': out.out = value; break;
      default: throw new UsageError(`unknown option --${name}`);
    }
  }
  const world = out.tabs * config.workersPerTab;
  for (const [flag, mode] of [['mode', config.mode], ['compare', config.compareWith]] as const) {
    if (mode !== null && mode !== 'local' && world < 2) {
      throw new UsageError(`--${flag} ${mode} needs at least 2 workers in the world (tabs × workers-per-tab = ${world})`);
    }
  }
  if (config.queueSize < world * config.batchPerWorker) {
    throw new UsageError(`--queue (${config.queueSize}) must hold at least one step of keys (${world * config.batchPerWorker})`);
  }
  return out;
}
