/**
 * A second "host" for benchmarks: a named network namespace joined to the current one by a veth pair,
 * optionally with a bandwidth limit (tc tbf on both ends, so each direction is limited; netem, which
 * would add delay, is not built into every kernel). Needs root. Nothing is routed beyond the two
 * namespaces: the named one's default route points at the current one, which has no route onward
 * when it is itself a private namespace (scripts/in-netns.sh).
 */
import { execFileSync } from 'node:child_process';

/** Queue a tbf holds before dropping: 20 ms at the limited rate (a shallow queue, as a home router's). */
export const SHAPER_QUEUE_MS = 20;
/** Bucket depth of the shaper: 10 ms at the rate (deep enough that timer granularity does not cap it). */
export const SHAPER_BURST_MS = 10;

function run(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface LinkedNamespace {
  /** Name for `ip netns exec` (and launchBrowser's `netns`). */
  name: string;
  /** Address of this side (the current namespace) on the veth, e.g. where a server listens. */
  localIp: string;
  /** Address of the named namespace's side. */
  remoteIp: string;
  /** Limits both directions to `mbit` Mbit/s (null: no limit). */
  shape(mbit: number | null): void;
  /** Bytes and packets the two ends' qdiscs have sent, and how often the limit held packets back. */
  stats(): { bytes: number; packets: number; overlimits: number; dropped: number };
  /** Deletes the namespace (and with it the veth pair); idempotent. */
  destroy(): void;
}

/** Creates namespace `name` linked to this one by a veth pair on 10.78.<subnet>.0/24. */
export function linkedNamespace(name: string, subnet: number): LinkedNamespace {
  const localDev = `${name.slice(0, 11)}a`;
  const remoteDev = `${name.slice(0, 11)}b`;
  const localIp = `10.78.${subnet}.1`;
  const remoteIp = `10.78.${subnet}.2`;
  const inNs = (...args: string[]) => run(['ip', 'netns', 'exec', name, ...args]);
  try {
    run(['ip', 'netns', 'del', name]);
  } catch {
    // not there
  }
  run(['ip', 'netns', 'add', name]);
  run(['ip', 'link', 'add', localDev, 'type', 'veth', 'peer', 'name', remoteDev, 'netns', name]);
  run(['ip', 'addr', 'add', `${localIp}/24`, 'dev', localDev]);
  run(['ip', 'link', 'set', localDev, 'up']);
  inNs('ip', 'link', 'set', 'lo', 'up');
  inNs('ip', 'addr', 'add', `${remoteIp}/24`, 'dev', remoteDev);
  inNs('ip', 'link', 'set', remoteDev, 'up');
  // Without a default route Chromium gathers no ICE candidates.
  inNs('ip', 'route', 'add', 'default', 'via', localIp, 'dev', remoteDev);
  const ends: Array<(...args: string[]) => string> = [(...args) => run(args), inNs];
  const devs = [localDev, remoteDev];
  let destroyed = false;
  return {
    name,
    localIp,
    remoteIp,
    shape(mbit) {
      ends.forEach((exec, i) => {
        try {
          exec('tc', 'qdisc', 'del', 'dev', devs[i]!, 'root');
        } catch {
          // no qdisc of ours yet
        }
        if (mbit === null) return;
        const bytesPerMs = (mbit * 1e6) / 8 / 1000;
        const burst = Math.max(16 * 1024, Math.round(bytesPerMs * SHAPER_BURST_MS));
        exec('tc', 'qdisc', 'add', 'dev', devs[i]!, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', String(burst), 'latency', `${SHAPER_QUEUE_MS}ms`);
      });
    },
    stats() {
      const out = { bytes: 0, packets: 0, overlimits: 0, dropped: 0 };
      ends.forEach((exec, i) => {
        const text = exec('tc', '-s', 'qdisc', 'show', 'dev', devs[i]!);
        const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(text);
        if (!m) return;
        out.bytes += Number(m[1]);
        out.packets += Number(m[2]);
        out.dropped += Number(m[3]);
        out.overlimits += Number(m[4]);
      });
      return out;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        run(['ip', 'netns', 'del', name]);
      } catch {
        // already gone
      }
    },
  };
}
