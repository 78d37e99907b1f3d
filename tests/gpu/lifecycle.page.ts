/**
 * Page module for tests/gpu/lifecycle.browser.test.ts: backend selection and fallback, the GPU error
 * surface (validation errors, device loss), disposal and buffer recycling.
 */
import { BackendError } from '../../src/backend/backend.ts';
import { createBackend } from '../../src/backend/index.ts';
import { createCpuBackend } from '../../src/backend/cpu/index.ts';
import { WASM_BACKEND_LABEL } from '../../src/backend/wasm/index.ts';
import type { Backend } from '../../src/backend/backend.ts';
import { WebGpuBackend } from '../../src/gpu/webgpu-backend.ts';

export interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

function codeOf(err: unknown): string {
  return err instanceof BackendError ? err.code : String(err);
}

export async function selection(): Promise<Check[]> {
  const out: Check[] = [];
  const auto = await createBackend('auto');
  out.push({ what: "'auto' picks webgpu when available", ok: auto.backend.kind === 'webgpu' && auto.fallbackReason === null, detail: `${auto.backend.kind}: ${auto.backend.label}` });
  auto.backend.destroy();
  const cpu = await createBackend('cpu');
  out.push({ what: "'cpu' gives the CPU backend", ok: cpu.backend.kind === 'cpu', detail: cpu.backend.label });
  cpu.backend.destroy();

  // A browser without WebGPU: hide navigator.gpu for the duration.
  const desc = Object.getOwnPropertyDescriptor(Navigator.prototype, 'gpu')!;
  Object.defineProperty(Navigator.prototype, 'gpu', { configurable: true, get: () => undefined });
  try {
    const fb = await createBackend('auto');
    out.push({ what: "'auto' falls back to the CPU with a reason", ok: fb.backend.kind === 'cpu' && /WebGPU/.test(fb.fallbackReason ?? ''), detail: fb.fallbackReason ?? 'no reason' });
    out.push({ what: "that CPU backend is the WebAssembly SIMD one", ok: fb.backend.label.startsWith(WASM_BACKEND_LABEL), detail: fb.backend.label });
    out.push(await wasmAgreesWithFloat64(fb.backend));
    fb.backend.destroy();
    let code = 'resolved';
    try {
      (await createBackend('webgpu')).backend.destroy();
    } catch (err) {
      code = codeOf(err);
    }
    out.push({ what: "'webgpu' without WebGPU rejects with ERR_NO_WEBGPU", ok: code === 'ERR_NO_WEBGPU', detail: code });
  } finally {
    Object.defineProperty(Navigator.prototype, 'gpu', desc);
  }
  return out;
}

export async function errorSurface(): Promise<Check[]> {
  const out: Check[] = [];
  const b = await WebGpuBackend.create();
  const seen: string[] = [];
  b.onError((err) => seen.push(err.code));
  // An invalid buffer (MAP_READ may only pair with COPY_DST) outside any error scope.
  b.device.createBuffer({ label: 'Test.invalid', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  await b.device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 50));
  out.push({ what: 'an uncaptured validation error reaches onError as ERR_GPU_VALIDATION', ok: seen.includes('ERR_GPU_VALIDATION'), detail: seen.join(',') });

  const t = b.fromArray([1, 2, 3], [3]);
  b.device.destroy();
  await b.device.lost;
  await new Promise((r) => setTimeout(r, 0));
  out.push({ what: 'device loss reaches onError as ERR_DEVICE_LOST', ok: seen.includes('ERR_DEVICE_LOST') && b.lastError?.code === 'ERR_DEVICE_LOST', detail: seen.join(',') });
  let code = 'resolved';
  try {
    await b.read(t);
  } catch (err) {
    code = codeOf(err);
  }
  out.push({ what: 'read after device loss rejects with ERR_DEVICE_LOST', ok: code === 'ERR_DEVICE_LOST', detail: code });
  b.destroy();
  b.destroy();
  out.push({ what: 'destroy is idempotent', ok: true, detail: '' });
  return out;
}

export async function lifetime(): Promise<Check[]> {
  const out: Check[] = [];
  const b = await WebGpuBackend.create();
  const x = b.fromArray(new Float32Array(512).fill(1), [8, 64]);
  // A training-like step repeated: after the first, the pool should create no new buffers.
  const step = (): void => {
    const y = b.relu(x);
    const s = b.bnStats(y, { groups: 2, n: 4, c: 64, hw: 1 });
    const z = b.bnApply(y, { groups: 2, n: 4, c: 64, hw: 1 }, s.mean, s.var, null, null, 1e-5);
    [y, s.mean, s.var, z].forEach((t) => b.dispose(t));
  };
  step();
  await b.flush();
  const created = b.runtime.pool.created;
  for (let i = 0; i < 20; i++) step();
  await b.flush();
  out.push({ what: 'steady-state steps allocate no new GPU buffers', ok: b.runtime.pool.created === created, detail: `${b.runtime.pool.created - created} new` });
  out.push({ what: 'no live tensors but the input', ok: b.runtime.liveTensorCount === 1, detail: `${b.runtime.liveTensorCount}` });
  // A chain longer than one submission's parameter ring: every dispatch must see its own parameters.
  const ones = b.fromArray(new Float32Array(5).fill(1), [5]);
  let acc = b.zeros([5]);
  const submitsBefore = b.runtime.recorder.submits;
  for (let i = 0; i < 1500; i++) {
    const next = i % 2 === 0 ? b.add(acc, ones) : b.scale(acc, 1);
    b.dispose(acc);
    acc = next;
  }
  const chained = await b.read(acc);
  const autoSubmits = b.runtime.recorder.submits - submitsBefore;
  out.push({ what: '1500 chained ops across automatic submits give the exact result', ok: chained.every((v) => v === 750) && autoSubmits >= 3, detail: `${chained[0]} after ${autoSubmits} submits` });
  b.dispose(acc);
  b.dispose(ones);
  b.dispose(x);
  b.dispose(x);
  let code = 'no error';
  try {
    b.relu(x);
  } catch (err) {
    code = codeOf(err);
  }
  out.push({ what: 'use after dispose throws ERR_DISPOSED (dispose twice is a no-op)', ok: code === 'ERR_DISPOSED', detail: code });
  b.destroy();
  code = 'no error';
  try {
    b.zeros([2]);
  } catch (err) {
    code = codeOf(err);
  }
  out.push({ what: 'ops after destroy throw ERR_DISPOSED', ok: code === 'ERR_DISPOSED', detail: code });
  return out;
}

/**
 * The wasm backend runs in this browser: a linear layer, BN statistics and apply on it agree with the
 * float64 backend (to 1e-5 of each output's scale: float32 sums over 64 products).
 */
async function wasmAgreesWithFloat64(wasm: Backend): Promise<Check> {
  const ref = createCpuBackend();
  const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * 2);
  let worst = 0;
  const run = async (be: Backend) => {
    const x = be.fromArray(rand(16 * 64, 1), [16, 64]);
    const w = be.fromArray(rand(40 * 64, 2), [40, 64]);
    const y = be.linear(x, w, null);
    const layout = { groups: 2, n: 8, c: 40, hw: 1 };
    const stats = be.bnStats(y, layout);
    const z = be.bnApply(y, layout, stats.mean, stats.var, null, null, 1e-5);
    return Promise.all([y, stats.mean, stats.var, z].map((t) => be.read(t)));
  };
  const [got, want] = [await run(wasm), await run(ref)];
  for (let k = 0; k < want.length; k++) {
    const scale = want[k]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    want[k]!.forEach((v, i) => { worst = Math.max(worst, Math.abs(got[k]![i]! - v) / scale); });
  }
  ref.destroy();
  return { what: 'the wasm backend agrees with the float64 backend in this browser', ok: worst <= 1e-5, detail: `max error / scale ${worst.toExponential(2)}` };
}
