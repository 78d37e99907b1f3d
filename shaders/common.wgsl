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
