// Shared by every kernel (concatenated in front of each one).
// Dispatches larger than maxComputeWorkgroupsPerDimension (65535) are split across y by the host:
// kernels see one flat workgroup index and bound-check it against their own sizes.

/** Threads per workgroup, set at pipeline creation. */
override WG: u32 = 256u;

fn flat_workgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn flat_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return flat_workgroup(wid, nwg) * WG + lid;
}

// The (group, row chunk, column) cell of the column-reduction grid (bn_column_*): workgroups are laid
// out as [groups, chunks, blocks] and each thread of a block takes one column (or one vec4 of them).
struct ColumnCell { g: u32, chunk: u32, col: u32 }

fn column_cell(wid: vec3u, nwg: vec3u, lid: u32, blocks: u32, chunks: u32) -> ColumnCell {
  let f = flat_workgroup(wid, nwg);
  let rest = f / blocks;
  return ColumnCell(rest / chunks, rest % chunks, (f % blocks) * WG + lid);
}
