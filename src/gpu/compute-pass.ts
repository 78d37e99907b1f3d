/**
 * Base of every GPU pass: one WGSL kernel (shaders/common.wgsl + the kernel file) with its labelled
 * bind-group layout and pipeline, cached per device so a lost device frees everything. Binding 0 is
 * always the kernel's `Params` uniform (a slot of the recorder's ring, dynamic offset); bindings
 * 1.. are storage buffers in the order the shader declares them.
 */
import commonWgsl from '../../shaders/common.wgsl?raw';
import type { Recorder } from './recorder.ts';
import { UNIFORM_SLOT_BYTES } from './recorder.ts';

/** `read` = var<storage, read>, `write` = var<storage, read_write>. */
export type StorageAccess = 'read' | 'write';

export interface PassSpec {
  label: string;
  /** The kernel's WGSL (without common.wgsl). */
  code: string;
  storage: readonly StorageAccess[];
  /** Threads per workgroup (the WG override); 256 unless the kernel needs otherwise. */
  workgroupSize?: number;
  /** Other override constants, e.g. { TRANS_B: true }. */
  constants?: Readonly<Record<string, number | boolean>>;
}

/** What passes need from the backend. */
export interface PassContext {
  device: GPUDevice;
  recorder: Recorder;
  /** maxComputeWorkgroupsPerDimension (65535; tests lower it to exercise split dispatches). */
  maxWorkgroupsPerDim: number;
  /** True on a fallback (CPU-backed) adapter such as SwiftShader: passes pick CPU-friendly shapes. */
  cpuAdapter: boolean;
}

interface CachedPipeline {
  layout: GPUBindGroupLayout;
  pipeline: GPUComputePipeline;
}

const pipelineCache = new WeakMap<GPUDevice, Map<string, CachedPipeline>>();

/** Bind groups remembered per pass; pooled buffers repeat every step, so hits are the norm. */
const BIND_GROUP_CACHE_ENTRIES = 512;
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

function getPipeline(device: GPUDevice, spec: PassSpec, workgroupSize: number): CachedPipeline {
  let perDevice = pipelineCache.get(device);
  if (!perDevice) pipelineCache.set(device, (perDevice = new Map()));
  const constants = { ...spec.constants, WG: workgroupSize };
  const key = `${spec.label}|${JSON.stringify(constants)}`;
  const hit = perDevice.get(key);
  if (hit) return hit;
  const layout = device.createBindGroupLayout({
    label: `${spec.label}.bindGroupLayout`,
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
      ...spec.storage.map((access, i) => ({
        binding: i + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
      })),
    ],
  });
  const module = device.createShaderModule({ label: `${spec.label}.shader`, code: `${commonWgsl}\n${spec.code}` });
  const pipeline = device.createComputePipeline({
    label: `${spec.label}.pipeline`,
    layout: device.createPipelineLayout({ label: `${spec.label}.pipelineLayout`, bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main', constants },
  });
  const entry = { layout, pipeline };
  perDevice.set(key, entry);
  return entry;
}

export class ComputePass {
  readonly workgroupSize: number;
  readonly label: string;
  private readonly layout: GPUBindGroupLayout;
  private readonly pipeline: GPUComputePipeline;
  private readonly bindGroups = new Map<string, GPUBindGroup>();

  constructor(protected readonly ctx: PassContext, spec: PassSpec) {
    this.workgroupSize = spec.workgroupSize ?? 256;
    this.label = spec.label;
    ({ layout: this.layout, pipeline: this.pipeline } = getPipeline(ctx.device, spec, this.workgroupSize));
  }

  /** Workgroups needed to cover `n` threads. */
  groupsFor(n: number): number {
    return Math.ceil(n / this.workgroupSize);
  }

  /**
   * Records one dispatch of `workgroups` workgroups (split across y beyond the per-dimension limit;
   * kernels bound-check the flat index). Params: u32 fields first, then f32, as in the shader.
   */
  protected dispatch(buffers: readonly GPUBuffer[], workgroups: number, u32s: readonly number[], f32s: readonly number[] = []): void {
    if (workgroups <= 0) return;
    const rec: Recorder = this.ctx.recorder;
    const offset = rec.params(u32s, f32s);
    const pass = rec.computePass();
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup(buffers), [offset]);
    const x = Math.min(workgroups, this.ctx.maxWorkgroupsPerDim);
    pass.dispatchWorkgroups(x, Math.ceil(workgroups / x));
  }

  private bindGroup(buffers: readonly GPUBuffer[]): GPUBindGroup {
    let key = '';
    for (const b of buffers) key += `${bufferId(b)},`;
    const hit = this.bindGroups.get(key);
    if (hit) return hit;
    if (this.bindGroups.size >= BIND_GROUP_CACHE_ENTRIES) this.bindGroups.clear();
    const group = this.ctx.device.createBindGroup({
      label: `${this.label}.bindGroup`,
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: this.ctx.recorder.uniformBuffer, offset: 0, size: UNIFORM_SLOT_BYTES } },
        ...buffers.map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
      ],
    });
    this.bindGroups.set(key, group);
    return group;
  }
}
