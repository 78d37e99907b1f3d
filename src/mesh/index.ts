/**
 * Public surface of the mesh subsystem: what pages and the training loop import.
 *   - Mesh.join({ room }) → a tab's mesh over WebRTC; `mesh.group` is its ProcessGroup.
 *   - createMemoryGroups(n) → n in-process ProcessGroups with the same collectives (tests).
 */
export { Mesh, roomFromLink, type MeshEvents, type MeshMember, type MeshOptions } from './mesh.ts';
export { createMemoryGroups, memoryPeerId, type MemoryGroup, type MemoryGroupOptions } from './memory.ts';
export { MeshError, type CollectiveOptions, type MeshErrorCode, type Priority, type ProcessGroup, type ReduceOp } from './types.ts';
export { signalingUrl, type SignalingState } from './signaling-client.ts';
export { DEFAULT_COLLECTIVE_TIMEOUT_MS, RING_THRESHOLD_BYTES, STATS_PRIORITY_MAX_BYTES } from './collectives.ts';
export { HEARTBEAT_INTERVAL_MS, PEER_TIMEOUT_MS } from './endpoint.ts';
