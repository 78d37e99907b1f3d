/**
 * One shared command encoder for all ops. Dispatches go into a single long-lived compute pass (a
 * compute pass orders storage accesses between dispatches), copies end the pass, and the encoder is
 * submitted only when someone needs results (read, flush, an upload) or it has grown past
 * MAX_DISPATCHES_PER_SUBMIT — per-op submits would dominate the cost of a ~100-op training step.
 *
 * Uniform parameters of all dispatches of one submission live in one ring buffer at 256-byte slots
 * (dynamic offsets): they are staged on the host and written with a single writeBuffer just before
 * the submit, which the queue orders after the previous submission has consumed its parameters.
 */

/** Bytes per parameter slot (minUniformBufferOffsetAlignment is at most 256). */
export const UNIFORM_SLOT_BYTES = 256;
/** Dispatches recorded before the encoder is submitted on its own. */
export const MAX_DISPATCHES_PER_SUBMIT = 512;
const UNIFORM_RING_BYTES = UNIFORM_SLOT_BYTES * MAX_DISPATCHES_PER_SUBMIT;

export class Recorder {
  readonly uniformBuffer: GPUBuffer;
  private readonly staging = new ArrayBuffer(UNIFORM_RING_BYTES);
  private readonly stagingU32 = new Uint32Array(this.staging);
  private readonly stagingF32 = new Float32Array(this.staging);
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private slots = 0;
  /** Submissions so far (for tests and benchmarks). */
  submits = 0;

  constructor(private readonly device: GPUDevice) {
    this.uniformBuffer = device.createBuffer({
      label: 'Recorder.uniformRing',
      size: UNIFORM_RING_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** True when commands are recorded but not yet submitted. */
  get pending(): boolean {
    return this.encoder !== null;
  }

  /**
   * Stages one dispatch's parameters (u32 fields first, then f32 fields, matching every shader's
   * `Params` struct) and returns the dynamic offset. Submits first when the ring is full.
   */
  params(u32s: readonly number[], f32s: readonly number[] = []): number {
    if (this.slots >= MAX_DISPATCHES_PER_SUBMIT) this.submit();
    const offset = this.slots * UNIFORM_SLOT_BYTES;
    const word = offset / 4;
    for (let i = 0; i < u32s.length; i++) this.stagingU32[word + i] = u32s[i];
    for (let i = 0; i < f32s.length; i++) this.stagingF32[word + u32s.length + i] = f32s[i];
    this.slots++;
    return offset;
  }

  /** The open compute pass (begun on demand). */
  computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass({ label: 'Recorder.computePass' });
    return this.pass;
  }

  /** The encoder for copies and clears: ends the open compute pass first. */
  copyEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.commandEncoder();
  }

  /** Submits everything recorded so far (no-op when nothing is pending). */
  submit(): void {
    if (!this.encoder) return;
    const encoder = this.copyEncoder();
    if (this.slots > 0) this.device.queue.writeBuffer(this.uniformBuffer, 0, this.staging, 0, this.slots * UNIFORM_SLOT_BYTES);
    this.device.queue.submit([encoder.finish({ label: 'Recorder.commands' })]);
    this.encoder = null;
    this.slots = 0;
    this.submits++;
  }

  destroy(): void {
    if (this.pass) this.pass.end();
    this.pass = null;
    this.encoder = null;
    this.uniformBuffer.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'Recorder.encoder' });
    return this.encoder;
  }
}
