/**
 * The one thing both sides of the compute bridge talk through: a MessagePort-like object. A Worker,
 * the worker's own global scope and either end of a `new MessageChannel()` (browser or Node) all
 * fit, so the bridge is tested in Node with a channel and runs in the page with a real Worker.
 */

export interface PortLike {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  /** MessagePorts queue messages until started; Workers have no start(). */
  start?(): void;
  close?(): void;
}

/** Listens on `port`; returns the function that detaches the listener again. */
export function listen(port: PortLike, onMessage: (data: unknown) => void): () => void {
  const listener = (ev: MessageEvent) => onMessage(ev.data);
  port.addEventListener('message', listener);
  port.start?.();
  return () => port.removeEventListener('message', listener);
}

/**
 * Tensors to post, and the buffers to transfer with them. A tensor that spans its whole ArrayBuffer
 * moves (zero copy: the sender's buffer is detached afterwards); one that is a view into a larger or
 * shared buffer (WebAssembly memory, a pooled staging buffer), that shares its buffer with another
 * tensor of the message, or whose buffer is in `keep` is copied first, so the sender's memory is
 * never taken from under it.
 */
export function movable(tensors: readonly Float32Array[], keep: ReadonlySet<ArrayBufferLike> = new Set()): { tensors: Float32Array[]; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const taken = new Set<ArrayBufferLike>();
  const out = tensors.map((t) => {
    const whole = t.byteOffset === 0 && t.byteLength === t.buffer.byteLength;
    if (!whole || !(t.buffer instanceof ArrayBuffer) || taken.has(t.buffer) || keep.has(t.buffer)) {
      const copy = t.slice();
      transfer.push(copy.buffer);
      return copy;
    }
    taken.add(t.buffer);
    transfer.push(t.buffer);
    return t;
  });
  return { tensors: out, transfer };
}
