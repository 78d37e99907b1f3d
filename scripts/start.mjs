#!/usr/bin/env node
/**
 * `npm start`: builds the app with Vite if dist/ is missing or older than its sources, then runs the
 * production server (src/server/main.ts, through tsx) with the remaining flags. `--no-build` (or
 * SKIP_BUILD=1) serves whatever dist/ holds. See `npm start -- --help` for the server's flags.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What the browser bundle is built from: a change in any of these makes dist/ stale. */
const SOURCES = ['index.html', 'src', 'shaders', 'public', 'vite.config.ts', 'package.json'];

function newestMtimeMs(target) {
  if (!existsSync(target)) return 0;
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(target)) newest = Math.max(newest, newestMtimeMs(path.join(target, entry)));
  return newest;
}

function distIsStale(distDir) {
  const builtAt = newestMtimeMs(path.join(distDir, 'index.html'));
  if (builtAt === 0) return true;
  return SOURCES.some((s) => newestMtimeMs(path.join(root, s)) > builtAt);
}

const args = process.argv.slice(2);
const skipBuild = args.includes('--no-build') || process.env.SKIP_BUILD === '1';
const serverArgs = args.filter((a) => a !== '--no-build');
const distFlag = serverArgs.findIndex((a) => a === '--dist' || a.startsWith('--dist='));
const distDir = distFlag < 0 ? path.join(root, 'dist')
  : path.resolve(serverArgs[distFlag].includes('=') ? serverArgs[distFlag].split('=')[1] : serverArgs[distFlag + 1] ?? 'dist');

if (!skipBuild && !serverArgs.includes('--help') && distIsStale(distDir)) {
  console.log('Building the app (dist/ is missing or older than the sources)…');
  const build = spawnSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--outDir', distDir, '--emptyOutDir'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('error: the build failed (see above); fix it or start with --no-build to serve the old dist/');
    process.exit(build.status ?? 1);
  }
}

const server = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/server/main.ts'), ...serverArgs], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal));
server.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
