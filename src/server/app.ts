/**
 * The production server: one http or https server on one port that serves the built app, the
 * signaling socket, and `GET /api/origins` (where other devices can reach it, for the room view's
 * link and QR code). Upgrades on other paths are refused (nothing else here speaks WebSocket).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SignalingOptions } from './config.ts';
import { isSelfSigned } from './certs.ts';
import { attachSignaling, type SignalingHandle } from './signaling.ts';
import { createStaticHandler } from './static.ts';
import { createOriginsHandler } from './urls.ts';
import { ORIGINS_PATH } from '../signaling/origins.ts';
import { SIGNAL_PATH } from '../signaling/protocol.ts';

export interface AppServerOptions {
  port: number;
  host: string;
  /** Directory of the built app. */
  distDir: string;
  /** PEM certificate and key; with them the server speaks https. */
  tls?: { cert: string; key: string };
  signaling?: Partial<SignalingOptions>;
}

export interface AppServer {
  server: http.Server | https.Server;
  signaling: SignalingHandle;
  /** The port actually bound (useful with port 0). */
  port: number;
  protocol: 'http' | 'https';
  /** True when it speaks https with a self-signed certificate (other devices warn once). */
  selfSigned: boolean;
  close(): Promise<void>;
}

/** Starts listening; rejects with code ERR_PORT_IN_USE / ERR_PORT_ACCESS and a readable message. */
export async function startAppServer(options: AppServerOptions): Promise<AppServer> {
  const staticHandler = createStaticHandler({ root: options.distDir });
  let boundPort = options.port;
  const selfSigned = options.tls ? isSelfSigned(options.tls.cert) : false;
  const originsHandler = createOriginsHandler({
    protocol: options.tls ? 'https' : 'http',
    host: options.host,
    port: () => boundPort,
    selfSigned,
  });
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if ((req.url ?? '/').split('?', 1)[0] === ORIGINS_PATH) originsHandler(req, res);
    else staticHandler(req, res);
  };
  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handler) : http.createServer(handler);
  const signaling = attachSignaling(server, options.signaling);
  server.on('upgrade', (req, socket) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== SIGNAL_PATH) socket.destroy();
  });
  // A TLS handshake that fails (a phone refusing the certificate) must not take the server down.
  server.on('tlsClientError', () => {});
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      signaling.close();
      if (err.code === 'EADDRINUSE') {
        reject(Object.assign(new Error(`port ${options.port} is already in use: stop the other server or pick another port (PORT=${options.port + 1} npm start)`), { code: 'ERR_PORT_IN_USE' }));
      } else if (err.code === 'EACCES') {
        reject(Object.assign(new Error(`no permission to listen on port ${options.port}: use a port above 1023`), { code: 'ERR_PORT_ACCESS' }));
      } else {
        reject(err);
      }
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      boundPort = (server.address() as AddressInfo).port;
      resolve();
    });
  });

  return {
    server,
    signaling,
    port: boundPort,
    protocol: options.tls ? 'https' : 'http',
    selfSigned,
    close: () =>
      new Promise<void>((resolve) => {
        signaling.close();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
