/**
 * Child process for the multi-host test: starts the dev server (app + signaling) on 0.0.0.0 inside
 * whatever network namespace it was started in (`ip netns exec sbn-a …`), prints `{"port":N}` on one
 * line, and runs until stdin closes or it gets SIGTERM.
 */
import { startDevServer } from '../helpers/browser.ts';

const server = await startDevServer({ host: '0.0.0.0' });
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
