/**
 * The compute worker's entry point (a dedicated module Worker started by src/worker/compute.ts): the
 * tensor backend (WebGPU, or the wasm/CPU backend) and every training session of the page run here,
 * so a step never blocks the page. The mesh and the UI stay on the page.
 */
import { createBackend, type CreatedBackend } from '../backend/index.ts';
import { encodeError } from './errors.ts';
import { listen, type PortLike } from './port.ts';
import type { ControlReply, ControlRequest } from './protocol.ts';
import { SessionHost, trainingSessions } from './session-host.ts';

const scope = self as unknown as PortLike;
let created: Promise<CreatedBackend> | null = null;

function reply(message: ControlReply): void {
  scope.postMessage(message);
}

/**
 * The page has no WebGPU (switched off, or not offered to it): the worker does not use it either, so
 * the badge, the notice and the compute agree with what the page reports.
 */
async function chooseBackend(pageHasWebGpu: boolean): Promise<CreatedBackend> {
  if (pageHasWebGpu) return createBackend('auto');
  const cpu = await createBackend('wasm');
  const reason = 'this browser has no WebGPU (navigator.gpu is missing); the CPU backend will be used';
  return { ...cpu, fallbackReason: cpu.fallbackReason ? `${reason}; ${cpu.fallbackReason}` : reason };
}

async function provideBackend(pageHasWebGpu: boolean): Promise<void> {
  created ??= chooseBackend(pageHasWebGpu);
  try {
    const { backend, fallbackReason, onError } = await created;
    const badge = backend.kind === 'cpu' ? 'cpu' : backend.isFallbackAdapter ? 'webgpu-fallback' : 'webgpu';
    const fallback = fallbackReason === null ? null : encodeError(Object.assign(new Error(fallbackReason), { code: noWebGpuCode() }));
    reply({ type: 'backend', ok: true, badge, label: backend.label, kind: backend.kind, fallback });
    onError((err) => reply({ type: 'backend-error', error: encodeError(err) }));
  } catch (err) {
    reply({ type: 'backend', ok: false, error: encodeError(err) });
  }
}

/** As on the page: no WebGPU outside a secure context says so (the fix is https, not another browser). */
function noWebGpuCode(): 'ERR_INSECURE_CONTEXT' | 'ERR_NO_WEBGPU' {
  return globalThis.isSecureContext === false ? 'ERR_INSECURE_CONTEXT' : 'ERR_NO_WEBGPU';
}

listen(scope, (data) => {
  const msg = data as ControlRequest;
  if (msg?.type === 'backend') void provideBackend(msg.webgpu);
  else if (msg?.type === 'session') {
    const port = msg.port;
    void (async () => {
      const { backend } = await (created ??= chooseBackend(true));
      new SessionHost(port, trainingSessions(backend));
    })();
  }
});
reply({ type: 'ready' });
