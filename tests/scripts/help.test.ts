/**
 * Every script and benchmark answers `--help` with its usage (exit 0) and a flag it does not know with
 * the reason and the usage (exit 2), never a stack trace. The list is read from the directories, so a
 * new script is covered without editing this test.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const scripts = [
  ...readdirSync(`${root}scripts`).filter((f) => /\.(ts|mjs)$/.test(f)).map((f) => `scripts/${f}`),
  ...readdirSync(`${root}bench`).filter((f) => f.endsWith('.ts')).map((f) => `bench/${f}`),
];

function run(script: string, args: string[]) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', `${root}${script}`, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    // start.mjs must not build the app just to print its usage.
    env: { ...process.env, SKIP_BUILD: '1' },
  });
  return { status: res.status, out: res.stdout + res.stderr };
}

describe('scripts --help', () => {
  it('finds the scripts', () => {
    expect(scripts).toEqual(expect.arrayContaining(['scripts/leak-cpu.ts', 'scripts/experiment.ts', 'scripts/start.mjs', 'bench/train.ts']));
  });

  for (const script of scripts) {
    it(`${script}: --help prints the usage and exits 0`, () => {
      const help = run(script, ['--help']);
      expect(help.out).toMatch(/usage:/i);
      expect(help.out).not.toMatch(/\n\s+at /); // no stack trace
      expect(help.status).toBe(0);
    });
  }

  // One process per script is slow on a loaded machine: the unknown-flag path is shared (scripts/lib/cli.ts), so one script checks it.
  it('an unknown flag is a usage error (exit 2) with the reason and the usage, not a stack trace', () => {
    const bad = run('scripts/leak-cpu.ts', ['--no-such-flag']);
    expect(bad.out).toMatch(/Unknown option '--no-such-flag'/);
    expect(bad.out).toMatch(/usage: npm run leak:cpu/);
    expect(bad.out).not.toMatch(/\n\s+at /);
    expect(bad.status).toBe(2);
  });
});
