/**
 * In-memory process groups (the tests' createMemoryGroups: same endpoints, wire format, chunking and
 * collectives as the WebRTC mesh) whose links count every byte they carry, frame headers included:
 * what `leak:cpu --tabs N` reports as bytes per step.
 */
import { MeshEndpoint } from '../../src/mesh/endpoint.ts';
import { createMemoryLinkPair } from '../../src/mesh/memory-link.ts';
import { memoryPeerId } from '../../src/mesh/memory.ts';
import type { Link } from '../../src/mesh/transport.ts';
import type { ProcessGroup } from '../../src/mesh/types.ts';

export interface CountedGroups {
  groups: ProcessGroup[];
  /** Bytes sent so far by each rank (all its links, both channels). */
  sentBytes: number[];
  destroy(): void;
}

function counted(link: Link, add: (bytes: number) => void): Link {
  return new Proxy(link, {
    get(target, key) {
      if (key === 'send') {
        return (channel: Parameters<Link['send']>[0], data: ArrayBuffer) => {
          add(data.byteLength);
          target.send(channel, data);
        };
      }
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `n` fully linked in-memory peers with counted sends. */
export function createCountedGroups(n: number): CountedGroups {
  const ids = Array.from({ length: n }, (_, r) => memoryPeerId(r));
  const sentBytes = ids.map(() => 0);
  const endpoints = ids.map((selfId) => new MeshEndpoint({ selfId, heartbeatIntervalMs: 0 }));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const [ab, ba] = createMemoryLinkPair(ids[a]!, ids[b]!);
      endpoints[a]!.addLink(counted(ab, (bytes) => (sentBytes[a]! += bytes)));
      endpoints[b]!.addLink(counted(ba, (bytes) => (sentBytes[b]! += bytes)));
    }
  }
  return {
    groups: endpoints.map((endpoint) => endpoint.formGroup(ids, 1)),
    sentBytes,
    destroy: () => endpoints.forEach((e) => e.destroy()),
  };
}
