// InfoNCE per row (one workgroup per query): writes the positive logit q·k⁺/T into column 0 of
// logits [rows, 1 + K] (columns 1..K already hold q·queueᵀ/T), then the row's cross-entropy with
// target 0 by log-sum-exp, and whether the positive is strictly the largest logit.
struct Params { rows: u32, d: u32, k: u32, inv_t: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;     // [rows, d]
@group(0) @binding(2) var<storage, read> k_pos: array<f32>; // [rows, d]
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;      // [rows, 1 + k]
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;    // [rows]
@group(0) @binding(5) var<storage, read_write> row_correct: array<f32>; // [rows], 0 or 1

var<workgroup> scratch: array<f32, WG>;

fn tree_sum(lid: u32) -> f32 {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  let total = scratch[0];
  workgroupBarrier();
  return total;
}

fn tree_max(lid: u32) -> f32 {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = max(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  let total = scratch[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = flat_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  let qb = row * params.d;
  var dot = 0.0;
  for (var j = lid; j < params.d; j += WG) { dot += q[qb + j] * k_pos[qb + j]; }
  scratch[lid] = dot;
  workgroupBarrier();
  let pos = tree_sum(lid) * params.inv_t;
  let lb = row * (params.k + 1u);
  var neg_max = -3.0e38;
  for (var j = lid; j < params.k; j += WG) { neg_max = max(neg_max, logits[lb + 1u + j]); }
  scratch[lid] = neg_max;
  workgroupBarrier();
  let max_neg = tree_max(lid);
  let top = max(pos, max_neg);
  var sum_exp = 0.0;
  for (var j = lid; j < params.k; j += WG) { sum_exp += exp(logits[lb + 1u + j] - top); }
  scratch[lid] = sum_exp;
  workgroupBarrier();
  let total = tree_sum(lid) + exp(pos - top);
  if (lid == 0u) {
    logits[lb] = pos;
    row_loss[row] = log(total) + top - pos;
    row_correct[row] = select(0.0, 1.0, pos > max_neg || params.k == 0u);
  }
}
