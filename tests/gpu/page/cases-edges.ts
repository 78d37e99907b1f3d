/**
 * Kernel edges against a float64 reference written here (not the CPU backend): non-finite values,
 * magnitudes up to the float32 limit, constant channels. The contract both backends follow:
 * - BatchNorm statistics: a (group, channel) holding any NaN or ±Inf has mean and variance NaN;
 *   otherwise the mean is the float64 mean rounded to float32 (finite for any float32 data) and the
 *   variance the float64 variance rounded to float32 (+Inf only when it exceeds the float32 range;
 *   exactly 0 for a constant channel).
 * - L2 normalisation: a row holding NaN or ±Inf becomes all NaN; otherwise y = x / max(‖x‖, 1e-12) for
 *   any float32 magnitude.
 */
import type { Backend, BnLayout, Tensor } from '../../../src/backend/backend.ts';
import { randn, randu, rng } from './compare.ts';
import type { CaseFn, KernelHarness } from './harness.ts';

/** What goes into one (group, channel); each kind names the edge it exercises. */
export const CHANNEL_KINDS = [
  'normal', // control: N(0.5, 2)
  'NaN first', // NaN in the pilot values (first of the channel)
  'NaN last', // NaN in the last row, after the pilot
  '+Inf middle',
  '-Inf first, +Inf last',
  'constant 1e30',
  'constant -3e38',
  'U(4e37, 3e38)', // mean near the float32 limit; variance beyond it
  '±3e38 alternating', // mean 0-ish, the shifted values span 6e38
  'zeros then 1e30', // the pilot sees zeros, the rest overflows squared
  '1e19·N(0,1)', // variance ≈ 1e38, representable; squares of the values are not summable in float32
  '1e20·(1 + 1e-6·N(0,1))', // huge mean, representable variance
] as const;

type Kind = (typeof CHANNEL_KINDS)[number];

export function index(l: BnLayout, g: number, i: number, ch: number, p: number): number {
  return ((g * l.n + i) * l.c + ch) * l.hw + p;
}

/** x [groups, n, c, hw] with channel ch of group g drawn as CHANNEL_KINDS[(ch + 5g) % kinds]. */
export function edgeData(l: BnLayout, seed: number): { x: Float32Array; kinds: Kind[] } {
  const x = new Float32Array(l.groups * l.n * l.c * l.hw);
  const kinds: Kind[] = [];
  const count = l.n * l.hw;
  for (let g = 0; g < l.groups; g++) {
    for (let ch = 0; ch < l.c; ch++) {
      const kind = CHANNEL_KINDS[(ch + 5 * g) % CHANNEL_KINDS.length]!;
      kinds.push(kind);
      const s = seed + 31 * (g * l.c + ch);
      const normal = randn(count, s);
      const uniform = randu(count, s, 4e37, 3e38);
      const values = new Float64Array(count);
      for (let t = 0; t < count; t++) {
        switch (kind) {
          case 'constant 1e30': values[t] = 1e30; break;
          case 'constant -3e38': values[t] = -3e38; break;
          case 'U(4e37, 3e38)': values[t] = uniform[t]!; break;
          case '±3e38 alternating': values[t] = Math.floor(t / l.hw) % 2 === 0 ? 3e38 : -3e38; break;
          case 'zeros then 1e30': values[t] = t < count / 2 ? 0 : 1e30; break;
          case '1e19·N(0,1)': values[t] = 1e19 * normal[t]!; break;
          case '1e20·(1 + 1e-6·N(0,1))': values[t] = 1e20 * (1 + 1e-6 * normal[t]!); break;
          default: values[t] = 0.5 + 2 * normal[t]!;
        }
      }
      if (kind === 'NaN first') values[0] = NaN;
      if (kind === 'NaN last') values[count - 1] = NaN;
      if (kind === '+Inf middle') values[Math.floor(count / 2)] = Infinity;
      if (kind === '-Inf first, +Inf last') {
        values[0] = -Infinity;
        values[count - 1] = Infinity;
      }
      // t = row·hw + position: row-major within the channel.
      for (let t = 0; t < count; t++) x[index(l, g, Math.floor(t / l.hw), ch, t % l.hw)] = values[t]!;
    }
  }
  return { x, kinds };
}

interface RefStats {
  mean: Float64Array;
  var: Float64Array;
  m2: Float64Array;
  /** Per (group, channel): max |x| and max (x − mean)², the scales of the mean's and variance's rounding. */
  meanScale: Float64Array;
  varScale: Float64Array;
}

/** Two-pass float64 statistics; NaN for a channel holding any non-finite value. */
export function referenceStats(x: Float32Array, l: BnLayout): RefStats {
  const planes = l.groups * l.c;
  const r: RefStats = { mean: new Float64Array(planes), var: new Float64Array(planes), m2: new Float64Array(planes), meanScale: new Float64Array(planes), varScale: new Float64Array(planes) };
  const count = l.n * l.hw;
  for (let g = 0; g < l.groups; g++) {
    for (let ch = 0; ch < l.c; ch++) {
      const k = g * l.c + ch;
      let sum = 0;
      let finite = true;
      let maxAbs = 0;
      for (let i = 0; i < l.n; i++) {
        for (let p = 0; p < l.hw; p++) {
          const v = x[index(l, g, i, ch, p)]!;
          finite &&= Number.isFinite(v);
          sum += v;
          maxAbs = Math.max(maxAbs, Math.abs(v));
        }
      }
      if (!finite) {
        r.mean[k] = r.var[k] = r.m2[k] = NaN;
        continue;
      }
      const mean = sum / count;
      let m2 = 0;
      let maxDev = 0;
      for (let i = 0; i < l.n; i++) {
        for (let p = 0; p < l.hw; p++) {
          const d = (x[index(l, g, i, ch, p)]! - mean) ** 2;
          m2 += d;
          maxDev = Math.max(maxDev, d);
        }
      }
      r.mean[k] = mean;
      r.m2[k] = m2;
      r.var[k] = m2 / count;
      r.meanScale[k] = maxAbs;
      r.varScale[k] = maxDev;
    }
  }
  return r;
}

/**
 * |got − want| ≤ rtol·|want| + atol·scale + floor per element, where a NaN or ±Inf reference (after
 * rounding to float32) must be met exactly; sentinel bits (never written) fail. Returns the failures.
 */
export function mismatches(
  got: Float32Array, want: Float64Array, scale: Float64Array | null, rtol: number, atol: number, label: (k: number) => string, floor = 0,
): string[] {
  const out: string[] = [];
  const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  for (let k = 0; k < want.length; k++) {
    const w = Math.fround(want[k]!);
    const g = got[k]!;
    let ok: boolean;
    if (bits[k] === 0xbaadf00d) ok = false;
    else if (Number.isNaN(w) || !Number.isFinite(w)) ok = Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w));
    else ok = Number.isFinite(g) && Math.abs(g - want[k]!) <= rtol * Math.abs(want[k]!) + atol * (scale?.[k] ?? 0) + floor;
    if (!ok) out.push(`${label(k)}: got ${g} want ${w}`);
  }
  return out;
}

export async function readOwned(h: KernelHarness, b: Backend, t: Tensor): Promise<Float32Array> {
  h.own(b, t);
  return b.read(t);
}

/**
 * bnStats and bnPartial of both backends on edge data against the float64 reference. Mean within
 * 1e-6 of the channel's largest |x| (and 1e-6 relative); variance within 1e-5 relative and 1e-6 of
 * the largest squared deviation; M2 likewise.
 */
export function bnEdgeStatsCase(l: BnLayout, seed: number): CaseFn {
  return async (h) => {
    const { x, kinds } = edgeData(l, seed);
    const ref = referenceStats(x, l);
    const label = (k: number): string => `[g ${Math.floor(k / l.c)}, c ${k % l.c}] ${kinds[k]}`;
    const m2Scale = ref.varScale.map((v) => v * l.n * l.hw);
    for (const [name, b] of [['webgpu', h.gpu], ['cpu', h.cpu]] as const) {
      const xt = h.own(b, b.fromArray(x, [l.groups * l.n, l.c, l.hw]));
      const s = b.bnStats(xt, l);
      const p = b.bnPartial(xt, l);
      const bad = [
        ...mismatches(await readOwned(h, b, s.mean), ref.mean, ref.meanScale, 1e-6, 1e-6, (k) => `bnStats mean ${label(k)}`),
        ...mismatches(await readOwned(h, b, s.var), ref.var, ref.varScale, 1e-5, 1e-6, (k) => `bnStats var ${label(k)}`),
        ...mismatches(await readOwned(h, b, p.mean), ref.mean, ref.meanScale, 1e-6, 1e-6, (k) => `bnPartial mean ${label(k)}`),
        ...mismatches(await readOwned(h, b, p.m2), ref.m2, m2Scale, 1e-5, 1e-6, (k) => `bnPartial m2 ${label(k)}`),
      ];
      h.expect(`${name}: statistics of ${l.groups * l.c} edge channels match float64`, bad.length === 0, bad.slice(0, 8).join('; '));
    }
  };
}

/**
 * bnApply on the channels whose statistics are finite (huge constants, 1e19/1e20-scale data), fed the
 * reference statistics: y = (x − mean)/√(var + ε) against float64; non-finite statistics give NaN.
 */
export function bnEdgeApplyCase(l: BnLayout, seed: number): CaseFn {
  return async (h) => {
    const eps = 1e-5;
    const { x } = edgeData(l, seed);
    const ref = referenceStats(x, l);
    const mean32 = Float32Array.from(ref.mean);
    const var32 = Float32Array.from(ref.var);
    const want = new Float64Array(x.length);
    for (let g = 0; g < l.groups; g++) {
      for (let i = 0; i < l.n; i++) {
        for (let ch = 0; ch < l.c; ch++) {
          const k = g * l.c + ch;
          for (let p = 0; p < l.hw; p++) {
            const at = index(l, g, i, ch, p);
            want[at] = (x[at]! - mean32[k]!) / Math.sqrt(var32[k]! + eps);
          }
        }
      }
    }
    // Where the variance overflowed float32, x̂ is Inf/Inf or 0·Inf in any arithmetic: not compared.
    const skip = (at: number): boolean => {
      const k = Math.floor(at / (l.c * l.hw * l.n)) * l.c + (Math.floor(at / l.hw) % l.c);
      return var32[k] === Infinity;
    };
    for (const [name, b] of [['webgpu', h.gpu], ['cpu', h.cpu]] as const) {
      const xt = h.own(b, b.fromArray(x, [l.groups * l.n, l.c, l.hw]));
      const m = h.own(b, b.fromArray(mean32, [l.groups, l.c]));
      const v = h.own(b, b.fromArray(var32, [l.groups, l.c]));
      const got = await readOwned(h, b, b.bnApply(xt, l, m, v, null, null, eps));
      const bad = mismatches(got, want.map((w, at) => (skip(at) ? got[at]! : w)), null, 1e-5, 0, (at) => `bnApply x[${at}]`);
      h.expect(`${name}: bnApply on edge channels matches float64`, bad.length === 0, bad.slice(0, 8).join('; '));
    }
  };
}

/** Rows for L2 normalisation: ordinary, large (‖x‖³ beyond float32), huge (1e20, 3e38), tiny, zero, NaN, ±Inf. */
function edgeRows(d: number, seed: number): Float32Array {
  const u = rng(seed);
  const rows: ((j: number) => number)[] = [
    () => u() * 2 - 1,
    () => 1e13 * (u() * 2 - 1),
    () => 1e20 * (u() * 2 - 1),
    (j: number) => (j % 2 ? 3e38 : -2e38) * u(),
    () => 1e-25 * (u() * 2 - 1),
    () => 0,
    (j: number) => (j === d - 1 ? NaN : u()),
    (j: number) => (j === 0 ? Infinity : u()),
    (j: number) => (j === 1 ? -Infinity : 1e30 * u()),
  ];
  const x = new Float32Array(rows.length * d);
  rows.forEach((f, r) => {
    for (let j = 0; j < d; j++) x[r * d + j] = f(j);
  });
  return x;
}

/** L2 normalisation and its backward on edge rows against float64, both backends. */
export function l2EdgeCase(d: number, seed: number): CaseFn {
  return async (h) => {
    const x = edgeRows(d, seed);
    const rows = x.length / d;
    const dy = randn(x.length, seed + 1);
    const y = new Float64Array(x.length);
    const dx = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += x[r * d + j]! ** 2;
      const norm = Math.sqrt(ss);
      const finite = Number.isFinite(ss);
      const denom = Math.max(norm, 1e-12);
      let dot = 0;
      for (let j = 0; j < d; j++) dot += (x[r * d + j]! / denom) * dy[r * d + j]!;
      for (let j = 0; j < d; j++) {
        const at = r * d + j;
        y[at] = finite ? x[at]! / denom : NaN;
        dx[at] = !finite ? NaN : norm < 1e-12 ? dy[at]! / 1e-12 : (dy[at]! - y[at]! * dot) / norm;
      }
    }
    for (const [name, b] of [['webgpu', h.gpu], ['cpu', h.cpu]] as const) {
      const xt = h.own(b, b.fromArray(x, [rows, d]));
      const dyt = h.own(b, b.fromArray(dy, [rows, d]));
      const gotY = await readOwned(h, b, b.l2Normalize(xt));
      const gotDx = await readOwned(h, b, b.l2NormalizeBackward(dyt, xt));
      // Backward terms are ~|dy|/‖x‖: compare each row at that scale.
      const dxScale = new Float64Array(x.length).map((_, at) => {
        let m = 0;
        for (let j = 0; j < d; j++) m = Math.max(m, Math.abs(dx[Math.floor(at / d) * d + j]!));
        return m;
      });
      const bad = [
        ...mismatches(gotY, y, null, 1e-5, 0, (at) => `l2Normalize row ${Math.floor(at / d)} [${at % d}]`),
        // Floor at the float32 normal range: rows of 3e38 have subnormal gradients, flushed on some GPUs.
        ...mismatches(gotDx, dx, dxScale, 1e-4, 1e-5, (at) => `l2NormalizeBackward row ${Math.floor(at / d)} [${at % d}]`, 2e-38),
      ];
      h.expect(`${name}: L2 normalisation of edge rows matches float64`, bad.length === 0, bad.slice(0, 8).join('; '));
    }
  };
}
