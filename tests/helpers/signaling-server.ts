/**
 * A real signaling server on an ephemeral loopback port, for Node tests whose meshes join rooms through
 * it (with in-memory links): `url` is its WebSocket endpoint, `close()` stops it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachSignaling } from '../../src/server/signaling.ts';

export interface TestSignaling {
  url: string;
  close(): Promise<void>;
}

export async function startTestSignaling(): Promise<TestSignaling> {
  const server = http.createServer();
  const handle = attachSignaling(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/signal`,
    close: async () => {
      handle.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
