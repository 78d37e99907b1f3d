// InfoNCE over the batch (one workgroup): loss = mean of the row losses, correct = Σ row_correct.
struct Params { rows: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> row_correct: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;    // [1]
@group(0) @binding(4) var<storage, read_write> correct: array<f32>; // [1]

var<workgroup> wg_loss: array<f32, WG>;
var<workgroup> wg_correct: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var l = 0.0;
  var c = 0.0;
  for (var i = lid; i < params.rows; i += WG) { l += row_loss[i]; c += row_correct[i]; }
  wg_loss[lid] = l;
  wg_correct[lid] = c;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      wg_loss[lid] += wg_loss[lid + stride];
      wg_correct[lid] += wg_correct[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    loss[0] = select(0.0, wg_loss[0] / f32(params.rows), params.rows > 0u);
    correct[0] = wg_correct[0];
  }
}
