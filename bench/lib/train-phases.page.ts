/** Page side of bench:train's phase table: one backend of this page, the anchor's 1-tab step, phase by phase. */
import { createBackend, type BackendPreference } from '../../src/backend/index.ts';
import { measurePhases, type PhaseSummary } from './step-phases.ts';

export async function phases(pref: BackendPreference, steps: number, warmup: number): Promise<{ label: string; summary: PhaseSummary }> {
  const { backend } = await createBackend(pref);
  try {
    const label = `${backend.kind === 'webgpu' ? 'WebGPU' : backend.label}${backend.isFallbackAdapter ? ' (fallback adapter)' : ''}`;
    return { label, summary: await measurePhases(backend, { steps, warmup, syncGpu: backend.kind === 'webgpu' }) };
  } finally {
    backend.destroy();
  }
}
