// d(mean loss)/d(logits) / T per row (one workgroup per row): grad[r, j] = (softmax_j − [j = 0]) / (rows·T).
// dq then follows as grad[:, 0]·k⁺ + grad[:, 1:]·queue (matmul + infonce_pos_grad).
struct Params { rows: u32, cols: u32, scale: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // [rows, cols]
@group(0) @binding(2) var<storage, read_write> grad: array<f32>; // [rows, cols]

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  var m = -3.0e38;
  for (var j = lid; j < params.cols; j += WG) { m = max(m, logits[base + j]); }
  scratch[lid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = max(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  let top = scratch[0];
  workgroupBarrier();
  var s = 0.0;
  for (var j = lid; j < params.cols; j += WG) { s += exp(logits[base + j] - top); }
  scratch[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  let total = scratch[0];
  for (var j = lid; j < params.cols; j += WG) {
    let p = exp(logits[base + j] - top) / total;
    grad[base + j] = (p - select(0.0, 1.0, j == 0u)) * params.scale;
  }
}
