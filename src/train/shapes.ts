/**
 * The ten procedurally drawn shape classes of the synthetic data set, as coverage tests in a
 * shape-local frame (origin at the shape's centre, y pointing down, units of pixels), and an
 * anti-aliased rasteriser that supersamples them. Every class is symmetric under a horizontal flip
 * (x → −x), so the flip augmentation never turns one class into another.
 */

/** Image side in pixels: images are IMAGE_SIZE × IMAGE_SIZE grayscale, flattened row-major. */
export const IMAGE_SIZE = 16;
/** Sub-samples per pixel side for anti-aliasing (SUPERSAMPLE² samples per pixel). */
export const SUPERSAMPLE = 4;

export const SHAPE_CLASSES = [
  'filled circle',
  'outlined circle',
  'filled square',
  'outlined square',
  'triangle',
  'plus',
  'X',
  'horizontal bars',
  'vertical bars',
  'diamond',
] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];
export const NUM_CLASSES = SHAPE_CLASSES.length;

/** Geometry of one drawn shape. */
export interface ShapeGeometry {
  /** Centre in pixel coordinates (pixel i covers [i, i+1)). */
  cx: number;
  cy: number;
  /** Outer radius (half-extent) in pixels. */
  radius: number;
  /** Stroke width in pixels, for outlines, plus, X and bars. */
  stroke: number;
}

/** Number of bars in the bar classes; bars and gaps have equal width (2·BARS − 1 bands). */
const BARS = 3;

/** True when the point (x, y), relative to the centre, lies inside shape `cls`. */
export function insideShape(cls: number, x: number, y: number, radius: number, stroke: number): boolean {
  const ax = Math.abs(x);
  const ay = Math.abs(y);
  const half = stroke / 2;
  switch (cls) {
    case 0: // filled circle
      return x * x + y * y <= radius * radius;
    case 1: {
      // outlined circle: a ring whose outer edge is the radius
      const d = Math.sqrt(x * x + y * y);
      return d <= radius && d >= radius - stroke;
    }
    case 2: // filled square
      return ax <= radius && ay <= radius;
    case 3: {
      const m = Math.max(ax, ay);
      return m <= radius && m >= radius - stroke;
    }
    case 4: {
      // upright isosceles triangle, apex at the top (y = −radius), base at y = +radius
      if (y < -radius || y > radius) return false;
      const halfWidth = (y + radius) / 2; // full width 2·radius at the base
      return ax <= halfWidth;
    }
    case 5: // plus
      return (ax <= half && ay <= radius) || (ay <= half && ax <= radius);
    case 6: {
      // X: the plus rotated by 45°, arms of the same length
      const u = Math.abs((x + y) * Math.SQRT1_2);
      const v = Math.abs((x - y) * Math.SQRT1_2);
      return (u <= half && v <= radius) || (v <= half && u <= radius);
    }
    case 7:
      return ax <= radius && ay <= radius && barBand(y, radius);
    case 8:
      return ax <= radius && ay <= radius && barBand(x, radius);
    case 9: // diamond
      return ax + ay <= radius;
    default:
      throw Object.assign(new Error(`unknown shape class ${cls}`), { code: 'ERR_SHAPE_CLASS' });
  }
}

/** The coordinate t ∈ [−r, r] falls in a bar (even band) of 2·BARS − 1 equal bands. */
function barBand(t: number, radius: number): boolean {
  const bands = 2 * BARS - 1;
  const band = Math.min(bands - 1, Math.floor(((t + radius) / (2 * radius)) * bands));
  return band % 2 === 0;
}

/**
 * Anti-aliased coverage of shape `cls` on a size × size grid: out[y·size + x] ∈ [0, 1] is the fraction
 * of the pixel's SUPERSAMPLE² sub-samples inside the shape.
 */
export function rasterizeShape(cls: number, g: ShapeGeometry, size = IMAGE_SIZE, out = new Float32Array(size * size)): Float32Array {
  const s = SUPERSAMPLE;
  const inv = 1 / (s * s);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < s; sy++) {
        const y = py + (sy + 0.5) / s - g.cy;
        for (let sx = 0; sx < s; sx++) {
          const x = px + (sx + 0.5) / s - g.cx;
          if (insideShape(cls, x, y, g.radius, g.stroke)) hits++;
        }
      }
      out[py * size + px] = hits * inv;
    }
  }
  return out;
}
