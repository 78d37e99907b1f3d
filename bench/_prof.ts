import { createWasmBackend } from '../src/backend/wasm/index.ts';
import { localWorld } from '../src/nn/world.ts';
import { MocoTrainer } from '../src/train/moco.ts';
import { DEFAULT_CONFIG } from '../src/train/types.ts';
const raw = await createWasmBackend();
const acc = new Map<string, number>();
const be = new Proxy(raw, { get(t, p, r) { const v = Reflect.get(t, p, r); if (typeof v !== 'function') return v; return (...a: unknown[]) => { const t0 = process.cpuUsage(); const out = v.apply(t, a); const d = process.cpuUsage(t0); acc.set(String(p), (acc.get(String(p)) ?? 0) + (d.user + d.system) / 1000); return out; }; } });
const CONFIG = { ...DEFAULT_CONFIG, mode: 'local' as const, steps: 100, batchPerWorker: 64, workersPerTab: 1, queueSize: 4096, temperature: 0.2, lr: 0.03, inputDim: 256, hiddenDims: [512, 512], outputDim: 128, knnEvery: 0 };
const src = (_s: number, _w: number, n: number) => ({ query: Float32Array.from({ length: n * 256 }, Math.random), key: Float32Array.from({ length: n * 256 }, Math.random) });
const t = new MocoTrainer({ backend: be, config: CONFIG, world: localWorld(1), train: { images: new Float32Array(0), labels: new Int32Array(0), count: 0 }, drawBatch: src });
const N = 20; const times: number[] = [];
for (let i = 0; i < 5; i++) await t.runStep();
acc.clear();
for (let i = 0; i < N; i++) { const t0 = process.cpuUsage(); await t.runStep(); const d = process.cpuUsage(t0); times.push((d.user + d.system) / 1000); }
times.sort((a, b) => a - b);
console.log('median step', times[N >> 1]!.toFixed(1), 'min', times[0]!.toFixed(1));
let tot = 0; for (const v of acc.values()) tot += v;
console.log('in backend ops per step', (tot / N).toFixed(1));
[...acc.entries()].sort((a, b) => b[1] - a[1]).slice(0, 14).forEach(([k, v]) => console.log(k.padEnd(22), (v / N).toFixed(2)));
