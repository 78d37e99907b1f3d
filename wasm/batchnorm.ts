// BatchNorm column kernels in float64, two lanes at a time. One group of a [groups, n, c, hw] tensor is
// a [rows = n, cols = c·hw] matrix whose column l belongs to channel l / hw; these kernels reduce or
// transform along rows, column by column, and the caller folds columns into channels (cols·8 bytes
// of float64 per array). Arithmetic is the CPU backend's: float32 inputs promoted to float64, every
// sum and product in float64, one rounding to float32 on store, so the statistics stay as exact as
// the oracle's (shifted two-pass sums, never E[x²] − E[x]²).

/** Two float32 at p as two float64 lanes. */
@inline function load2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** Two float64 lanes stored as two float32 at p. */
@inline function store2(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
}

/** sums[l] = Σ_i x[i, l]. */
export function colSums(x: usize, rows: i32, cols: i32, sums: usize): void {
  memory.fill(sums, 0, <usize>cols << 3);
  const stride = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const px = x + <usize>i * stride;
    let l = 0;
    for (; l + 2 <= cols; l += 2) {
      const ps = sums + (<usize>l << 3);
      v128.store(ps, f64x2.add(v128.load(ps), load2(px + (<usize>l << 2))));
    }
    if (l < cols) {
      const ps = sums + (<usize>l << 3);
      store<f64>(ps, load<f64>(ps) + <f64>load<f32>(px + (<usize>l << 2)));
    }
  }
}

/** m2[l] = Σ_i (x[i, l] − mean[l])², mean per column in float64. */
export function colCenteredSquares(x: usize, rows: i32, cols: i32, mean: usize, m2: usize): void {
  memory.fill(m2, 0, <usize>cols << 3);
  const stride = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const px = x + <usize>i * stride;
    let l = 0;
    for (; l + 2 <= cols; l += 2) {
      const o = <usize>l << 3;
      const d = f64x2.sub(load2(px + (<usize>l << 2)), v128.load(mean + o));
      v128.store(m2 + o, f64x2.add(v128.load(m2 + o), f64x2.mul(d, d)));
    }
    if (l < cols) {
      const o = <usize>l << 3;
      const d = <f64>load<f32>(px + (<usize>l << 2)) - load<f64>(mean + o);
      store<f64>(m2 + o, load<f64>(m2 + o) + d * d);
    }
  }
}

/** sumDy[l] = Σ_i dy[i, l]; sumDyCentered[l] = Σ_i dy[i, l]·(x[i, l] − mean[l]). */
export function colBackwardSums(dy: usize, x: usize, rows: i32, cols: i32, mean: usize, sumDy: usize, sumDyCentered: usize): void {
  memory.fill(sumDy, 0, <usize>cols << 3);
  memory.fill(sumDyCentered, 0, <usize>cols << 3);
  const stride = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const pd = dy + <usize>i * stride;
    const px = x + <usize>i * stride;
    let l = 0;
    for (; l + 2 <= cols; l += 2) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      const g = load2(pd + f);
      const d = f64x2.sub(load2(px + f), v128.load(mean + o));
      v128.store(sumDy + o, f64x2.add(v128.load(sumDy + o), g));
      v128.store(sumDyCentered + o, f64x2.add(v128.load(sumDyCentered + o), f64x2.mul(g, d)));
    }
    if (l < cols) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      const g = <f64>load<f32>(pd + f);
      store<f64>(sumDy + o, load<f64>(sumDy + o) + g);
      store<f64>(sumDyCentered + o, load<f64>(sumDyCentered + o) + g * (<f64>load<f32>(px + f) - load<f64>(mean + o)));
    }
  }
}

/**
 * out[i, l] = (x[i, l] − shift[l])·scale[l] + offset[l]. BatchNorm's apply (shift = mean,
 * scale = γ/σ, offset = β), the borrowed backward's dx = dy·γ/σ and the producer's
 * dx = dmean/M + 2·dvar/M·(x − mean) are all this one affine map per column.
 */
export function colAffine(x: usize, rows: i32, cols: i32, shift: usize, scale: usize, offset: usize, out: usize): void {
  const stride = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const px = x + <usize>i * stride;
    const po = out + <usize>i * stride;
    let l = 0;
    for (; l + 2 <= cols; l += 2) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      const d = f64x2.sub(load2(px + f), v128.load(shift + o));
      store2(po + f, f64x2.add(f64x2.mul(d, v128.load(scale + o)), v128.load(offset + o)));
    }
    if (l < cols) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      store<f32>(po + f, <f32>((<f64>load<f32>(px + f) - load<f64>(shift + o)) * load<f64>(scale + o) + load<f64>(offset + o)));
    }
  }
}

/**
 * BatchNorm training backward with the statistics of this x, per column:
 * dx = dy·dyScale[l] − (x − mean[l])·centeredScale[l] − offset[l]
 * (dyScale = γσ⁻¹, centeredScale = γσ⁻³·Σdy(x − mean)/M, offset = γσ⁻¹·Σdy/M).
 */
export function colBnBackward(
  dy: usize, x: usize, rows: i32, cols: i32, mean: usize, dyScale: usize, centeredScale: usize, offset: usize, dx: usize,
): void {
  const stride = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const pd = dy + <usize>i * stride;
    const px = x + <usize>i * stride;
    const po = dx + <usize>i * stride;
    let l = 0;
    for (; l + 2 <= cols; l += 2) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      const d = f64x2.sub(load2(px + f), v128.load(mean + o));
      const g = f64x2.mul(load2(pd + f), v128.load(dyScale + o));
      store2(po + f, f64x2.sub(f64x2.sub(g, f64x2.mul(d, v128.load(centeredScale + o))), v128.load(offset + o)));
    }
    if (l < cols) {
      const o = <usize>l << 3;
      const f = <usize>l << 2;
      const d = <f64>load<f32>(px + f) - load<f64>(mean + o);
      const g = <f64>load<f32>(pd + f) * load<f64>(dyScale + o);
      store<f32>(po + f, <f32>(g - d * load<f64>(centeredScale + o) - load<f64>(offset + o)));
    }
  }
}
