/**
 * The read-only reduction of bench:kernels (read_sum.wgsl): one GPU pass that reads every element of a
 * buffer once. Its bandwidth is the reference for BatchNorm statistics ("ours / read-only"); the sum
 * it returns is checked against float64 by the caller, so a figure is never printed for a pass that
 * skipped data.
 */
import readSumWgsl from './read_sum.wgsl?raw';

/** Threads per workgroup. */
const WORKGROUP_SIZE = 256;
/** Workgroups of one pass: enough to fill a GPU; their threads' partial sums are added on the host. */
const MAX_WORKGROUPS = 256;

export class ReadSum {
  private readonly pipeline: GPUComputePipeline;
  private readonly params: GPUBuffer;
  private readonly partial: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly bindGroup: GPUBindGroup;
  readonly workgroups: number;
  /** One partial sum per thread. */
  private readonly partials: number;

  /** `x` holds `size` float32 values (size divisible by 4). */
  constructor(private readonly device: GPUDevice, x: GPUBuffer, size: number) {
    const n4 = size / 4;
    this.workgroups = Math.max(1, Math.min(MAX_WORKGROUPS, Math.ceil(n4 / WORKGROUP_SIZE)));
    this.partials = this.workgroups * WORKGROUP_SIZE;
    const module = device.createShaderModule({ label: 'ReadSum.shader', code: readSumWgsl });
    this.pipeline = device.createComputePipeline({
      label: 'ReadSum.pipeline',
      layout: 'auto',
      compute: { module, entryPoint: 'main', constants: { WG: WORKGROUP_SIZE } },
    });
    this.params = device.createBuffer({ label: 'ReadSum.params', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(this.params, 0, Uint32Array.of(n4, 0, 0, 0));
    this.partial = device.createBuffer({ label: 'ReadSum.partial', size: this.partials * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    this.staging = device.createBuffer({ label: 'ReadSum.staging', size: this.partials * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.bindGroup = device.createBindGroup({
      label: 'ReadSum.bindGroup',
      layout: this.pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: this.params } },
        { binding: 1, resource: { buffer: x } },
        { binding: 2, resource: { buffer: this.partial } },
      ],
    });
  }

  /** Records and submits one pass. */
  run(): void {
    const enc = this.device.createCommandEncoder({ label: 'ReadSum.encoder' });
    const pass = enc.beginComputePass({ label: 'ReadSum.pass' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(this.workgroups);
    pass.end();
    this.device.queue.submit([enc.finish({ label: 'ReadSum.commands' })]);
  }

  /** The sum of every element, from one pass (partials added in float64). */
  async sum(): Promise<number> {
    this.run();
    const enc = this.device.createCommandEncoder({ label: 'ReadSum.readback' });
    enc.copyBufferToBuffer(this.partial, 0, this.staging, 0, this.partials * 4);
    this.device.queue.submit([enc.finish()]);
    await this.staging.mapAsync(GPUMapMode.READ);
    const partials = new Float32Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    return partials.reduce((a, b) => a + b, 0);
  }

  destroy(): void {
    for (const b of [this.params, this.partial, this.staging]) b.destroy();
  }
}
