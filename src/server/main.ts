/**
 * Entry point of `npm start` (run by scripts/start.mjs after building): parses flags and environment,
 * prepares TLS if asked, starts the server and prints where to open the app.
 */
import { readFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { startAppServer } from './app.ts';
import { loadOrCreateCertificate } from './certs.ts';
import { parseServerArgs, USAGE, type ServerConfig } from './cli.ts';
import { roomLink } from '../signaling/links.ts';
import { lanAddresses, serverUrls } from './urls.ts';

async function tlsFor(config: ServerConfig): Promise<{ cert: string; key: string; note: string } | undefined> {
  if (!config.https) return undefined;
  if (config.certFile && config.keyFile) {
    return { cert: readFileSync(config.certFile, 'utf8'), key: readFileSync(config.keyFile, 'utf8'), note: `certificate ${config.certFile}` };
  }
  const files = await loadOrCreateCertificate(config.certDir, lanAddresses());
  return { cert: files.cert, key: files.key, note: `${files.created ? 'generated a' : 'using the'} self-signed certificate ${files.certPath}` };
}

async function main(): Promise<void> {
  const config = parseServerArgs(process.argv.slice(2), process.env);
  if (config.help) {
    console.log(USAGE);
    return;
  }
  const distDir = path.resolve(config.distDir);
  if (!existsSync(path.join(distDir, 'index.html'))) {
    console.warn(`warning: ${distDir}/index.html is missing: run 'npm run build' (npm start does it for you)`);
  }
  const tls = await tlsFor(config);
  const app = await startAppServer({
    port: config.port,
    host: config.host,
    distDir,
    tls,
    signaling: { iceServers: config.iceServers, allowedOrigins: config.allowedOrigins, log: (line) => console.log(`[signal] ${line}`) },
  });
  const urls = serverUrls(app.protocol, config.host, app.port);
  console.log('ShuffleBN Mesh is running.');
  console.log(`  Local:   ${urls.local}`);
  for (const url of urls.lan) console.log(`  Network: ${url}`);
  if (tls) {
    console.log(`  TLS:     ${tls.note}`);
    console.log('Phones and other devices must accept the self-signed certificate once (Advanced → Proceed) before the app loads.');
  } else if (urls.lan.length > 0) {
    console.log('WebGPU needs a secure context: other devices can only use it over https (npm start -- --https).');
  }
  if (config.iceServers.length > 0) console.log(`  ICE:     ${config.iceServers.length} STUN/TURN server(s) configured`);
  const roomId = app.signaling.openRoom();
  console.log(`Room link (open it in every tab or device that should train together):`);
  console.log(`  ${roomLink(urls.local, roomId)}`);
  for (const url of urls.lan) console.log(`  ${roomLink(url, roomId)}`);
  console.log('Or open a URL above and create a room there. Ctrl-C stops.');

  let stopping = false;
  const stop = (): void => {
    if (stopping) return process.exit(1);
    stopping = true;
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: Error & { code?: string }) => {
  console.error(`error: ${err.message}`);
  if (err.code === 'ERR_BAD_ARGS') console.error(USAGE);
  process.exit(1);
});
