// InfoNCE's softmax over rows of logits [rows, width] (float32, row-major; column 0 the positive), four
// lanes at a time. Exponentials are float32 (exp4: Cephes' expf polynomial, within 2 float32 ulps of
// exp on the range used, x = logit − row max ≤ 0); their sums are float64 (lanes promoted in pairs), so
// a row of 4097 terms loses nothing to summation. Maxima ignore NaN as the reference's `v > max` scan
// does; a NaN logit still makes its row's sum NaN, so loss and gradients come out NaN, as there.

const LOG2E: f32 = 1.44269504088896341;
/** ln 2 split in two, so n·LN2_HI is exact for the n that occur and x − n·ln 2 keeps its bits. */
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
/** Below this exp(x) leaves float32's normal range; such lanes are 0 (the row's largest term is 1). */
const EXP_MIN: f32 = -87.33654;

/** exp of four float32 lanes, each ≤ 0 (NaN stays NaN, −Inf gives 0). */
@inline function exp4(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(EXP_MIN));
  const xc = f32x4.max(x, f32x4.splat(EXP_MIN));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  // 2ⁿ from its exponent bits: n ∈ [−126, 0] here, a normal float32.
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, pow2), under);
}

/** Largest of x[0..count) (float32 at p), NaN ignored; −Inf when there is none. */
@inline function maxOf(p: usize, count: i32): f32 {
  let acc = f32x4.splat(-Infinity);
  let j = 0;
  // pmax(acc, v) = acc < v ? v : acc: a NaN v never wins.
  for (; j + 4 <= count; j += 4) acc = f32x4.pmax(acc, v128.load(p + (<usize>j << 2)));
  let best: f32 = -Infinity;
  for (let lane = 0; lane < 4; lane++) {
    const v = f32x4.extract_lane(acc, 0);
    if (v > best) best = v;
    acc = v128.shuffle<f32>(acc, acc, 1, 2, 3, 0);
  }
  for (; j < count; j++) {
    const v = load<f32>(p + (<usize>j << 2));
    if (v > best) best = v;
  }
  return best;
}

/** Σ exp(x[j] − max) over j < count (float32 at p), in float64; `out` (if not 0) receives the exps as float32. */
@inline function sumExp(p: usize, count: i32, max: f32, out: usize): f64 {
  const shift = f32x4.splat(max);
  let lo = f64x2.splat(0);
  let hi = f64x2.splat(0);
  let j = 0;
  for (; j + 4 <= count; j += 4) {
    const e = exp4(f32x4.sub(v128.load(p + (<usize>j << 2)), shift));
    if (out) v128.store(out + (<usize>j << 2), e);
    lo = f64x2.add(lo, f64x2.promote_low_f32x4(e));
    hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1) + f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1);
  for (; j < count; j++) {
    const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(p + (<usize>j << 2)) - max)), 0);
    if (out) store<f32>(out + (<usize>j << 2), e);
    s += <f64>e;
  }
  return s;
}

/** The row max as the reference scans it: the positive, replaced by any larger negative; NaN if the positive is. */
@inline function rowMax(positive: f32, maxNegative: f32): f32 {
  return positive != positive || !(maxNegative > positive) ? positive : maxNegative;
}

/**
 * logits[r, 1 + j] = neg[r, j] / T, divided in float64 and rounded once to float32 (as the reference);
 * column 0 (the positive) is left to the caller.
 */
export function logitsFromNegatives(neg: usize, rows: i32, queueRows: i32, temperature: f64, logits: usize): void {
  const t = f64x2.splat(temperature);
  const width = queueRows + 1;
  for (let r = 0; r < rows; r++) {
    const src = neg + (<usize>r * <usize>queueRows << 2);
    const dst = logits + ((<usize>r * <usize>width + 1) << 2);
    let j = 0;
    for (; j + 2 <= queueRows; j += 2) {
      const v = f64x2.div(f64x2.promote_low_f32x4(v128.load64_zero(src + (<usize>j << 2))), t);
      v128.store64_lane(dst + (<usize>j << 2), f32x4.demote_f64x2_zero(v), 0);
    }
    if (j < queueRows) store<f32>(dst + (<usize>j << 2), <f32>(<f64>load<f32>(src + (<usize>j << 2)) / temperature));
  }
}

/**
 * Per row of logits [rows, width]: out[r] = (row max, Σ_j exp(logit − max), largest negative), float64.
 * The loss of row r is max + ln Σ − positive; the row is correct when positive > largest negative.
 */
export function softmaxRowStats(logits: usize, rows: i32, width: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = logits + (<usize>r * <usize>width << 2);
    const positive = load<f32>(row);
    const maxNegative = maxOf(row + 4, width - 1);
    const max = rowMax(positive, maxNegative);
    const o = out + (<usize>r * 24);
    store<f64>(o, <f64>max);
    store<f64>(o, sumExp(row, width, max, 0), 8);
    store<f64>(o, <f64>maxNegative, 16);
  }
}

/**
 * Gradients of the mean loss w.r.t. the logits, already divided by N·T (`scale`): with p = softmax(row),
 * g[r, j] = p[1 + j]·scale as float32 [rows, width − 1] (the GEMM's operand) and gPos[r] = (p[0] − 1)·scale
 * in float64.
 */
export function softmaxGrads(logits: usize, rows: i32, width: i32, scale: f64, g: usize, gPos: usize): void {
  const negatives = width - 1;
  for (let r = 0; r < rows; r++) {
    const row = logits + (<usize>r * <usize>width << 2);
    const gRow = g + (<usize>r * <usize>negatives << 2);
    const positive = load<f32>(row);
    const max = rowMax(positive, maxOf(row + 4, negatives));
    const expPositive = Math.exp(<f64>positive - <f64>max);
    const sum = expPositive + sumExp(row + 4, negatives, max, gRow);
    store<f64>(gPos + (<usize>r << 3), (expPositive / sum - 1) * scale);
    // The stored exps times scale / Σ, in float64, rounded once more to float32.
    const rowScale = f64x2.splat(scale / sum);
    let j = 0;
    for (; j + 2 <= negatives; j += 2) {
      const p = gRow + (<usize>j << 2);
      const v = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(p)), rowScale);
      v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
    }
    if (j < negatives) {
      const p = gRow + (<usize>j << 2);
      store<f32>(p, <f32>(<f64>load<f32>(p) * (scale / sum)));
    }
  }
}
