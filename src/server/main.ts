/**
 * Entry point of `npm start` (run by scripts/start.mjs after building): parses flags and environment,
 * prepares TLS if asked, starts the server and prints where to open the app.
 */
import { readFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { startAppServer } from './app.ts';
import { loadOrCreateCertificate } from './certs.ts';
import { parseServerArgs, USAGE, type ServerConfig } from './cli.ts';
import { loadOrCreateResumeKey } from './resume-tokens.ts';
import { roomLink } from '../signaling/links.ts';
import { CERTIFICATE_STEPS, HTTPS_COMMAND } from '../signaling/origins.ts';
import { lanAddresses, serverOrigins } from './urls.ts';

async function tlsFor(config: ServerConfig): Promise<{ cert: string; key: string; note: string } | undefined> {
  if (!config.https) return undefined;
  if (config.certFile && config.keyFile) {
    return { cert: readFileSync(config.certFile, 'utf8'), key: readFileSync(config.keyFile, 'utf8'), note: `certificate ${config.certFile}` };
  }
  const files = await loadOrCreateCertificate(config.certDir, lanAddresses());
  const how = files.replaced ? `replaced the self-signed certificate (the old one ${files.replaced}):` : files.created ? 'generated a self-signed certificate' : 'using the self-signed certificate';
  return { cert: files.cert, key: files.key, note: `${how} ${files.certPath}` };
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
    signaling: {
      iceServers: config.iceServers,
      allowedOrigins: config.allowedOrigins,
      trustedProxies: config.trustedProxies,
      resumeKey: loadOrCreateResumeKey(config.dataDir),
      stateDir: config.dataDir,
      log: (line) => console.log(`[signal] ${line}`),
    },
  });
  const origins = serverOrigins(app.protocol, config.host, app.port, { selfSigned: app.selfSigned });
  console.log('ShuffleBN Mesh is running.');
  console.log(`  Local:   ${origins.local}/`);
  for (const lan of origins.lan) console.log(`  Network: ${lan.origin}/${lan.interface ? `  (${lan.interface})` : ''}`);
  if (tls) console.log(`  TLS:     ${tls.note}`);
  if (config.iceServers.length > 0) console.log(`  ICE:     ${config.iceServers.length} STUN/TURN server(s) configured`);
  const roomId = app.signaling.openRoom();
  console.log(`Room link for this machine's tabs:`);
  console.log(`  ${roomLink(`${origins.local}/`, roomId)}`);
  if (origins.lan.length > 0) {
    console.log('Room link for other devices on this network (the room view shows it as a QR code):');
    for (const lan of origins.lan) console.log(`  ${roomLink(`${lan.origin}/`, roomId)}`);
    if (!origins.tls) {
      console.log(`Other devices will train on the CPU backend: over plain http a LAN address is not a secure context, so browsers give it no WebGPU. For WebGPU on them, restart with: ${HTTPS_COMMAND}`);
    } else if (origins.selfSigned) {
      console.log('The certificate is self-signed: each other device shows a certificate warning once. To go on:');
      for (const c of CERTIFICATE_STEPS) console.log(`  ${c.browser}: ${c.steps}`);
    }
  } else if (['127.0.0.1', '::1', 'localhost'].includes(config.host)) {
    console.log(`Other devices cannot reach this server: it listens on ${config.host} only (HOST=0.0.0.0 listens on every interface).`);
  } else {
    console.log('Other devices cannot reach this server yet: this machine has no network address (join the network the other devices are on, then restart).');
  }
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
