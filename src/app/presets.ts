/**
 * Named starting points for a room's settings, selectable by name in a share link (`?preset=quick`).
 * A preset is a complete TrainConfig, so a link with a preset and a few overrides describes a room
 * exactly, whatever the defaults of the build that opens it.
 */
import { DEFAULT_CONFIG, type TrainConfig } from '../train/types.ts';

/**
 * The quick demo (the **Quick demo** button, `?preset=quick`): the fewest steps (in hundreds) in which
 * the leak was unmistakable when measured on both backends (README, "The quick demo"; `npm run
 * demo:check` re-measures it on the CPU backend): `shuffle` and `local` side by side in one run
 * (compare mode), pretext accuracy ≥ 40 points apart and kNN accuracy ≥ 2 points apart at the last
 * step. Measured with a world of 8 workers (2 tabs × 4 on WebGPU, or 8 virtual workers in one
 * CPU-backend process); the CPU backend already shows both gaps at 500 steps, the software GPU from 600.
 */
export const QUICK_DEMO_CONFIG: Readonly<TrainConfig> = Object.freeze({
  ...DEFAULT_CONFIG,
  hiddenDims: [...DEFAULT_CONFIG.hiddenDims],
  mode: 'shuffle',
  compareWith: 'local',
  seed: 3,
  steps: 600,
  workersPerTab: 4,
  knnEvery: 100,
});

export const PRESETS = {
  default: DEFAULT_CONFIG,
  quick: QUICK_DEMO_CONFIG,
} as const satisfies Record<string, Readonly<TrainConfig>>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** A fresh, mutable copy of a preset's configuration. */
export function presetConfig(name: PresetName): TrainConfig {
  const preset = PRESETS[name];
  return { ...preset, hiddenDims: [...preset.hiddenDims] };
}
