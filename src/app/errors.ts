/**
 * One path to the screen: every failure a person must know about (backend, GPU device, signaling,
 * mesh, a peer's frame, the link) becomes a `Notice` here, worded for a person with what to do next.
 * Elements only render notices; they never interpret error codes themselves.
 */

export type NoticeLevel = 'info' | 'warning' | 'error';

export interface Notice {
  /** Stable key: one notice per key is shown (a repeated error replaces the older one). */
  key: string;
  code: string;
  level: NoticeLevel;
  title: string;
  /** What happened and what to do next, in plain words. */
  detail: string;
  /** The technical message, for a bug report. */
  technical?: string;
  /** Epoch ms when it was raised. */
  at: number;
}

interface Wording {
  level: NoticeLevel;
  title: string;
  detail: string;
}

/** Codes the app itself raises (the rest come from src/backend, src/mesh and src/server). */
export type AppErrorCode = 'ERR_BAD_LINK' | 'ERR_LINK_SETTINGS' | 'ERR_ROOM_REPLACED' | 'ERR_FALLBACK_ADAPTER' | 'ERR_RECONNECTING' | 'ERR_CONFIG_REJECTED' | 'ERR_SESSION' | 'ERR_RUN_IN_PROGRESS' | 'ERR_JOIN_RETRYING' | 'ERR_RUN_LOG_STORAGE';

const WORDING: Record<string, Wording> = {
  ERR_NO_WEBGPU: {
    level: 'warning',
    title: 'No WebGPU in this browser',
    detail: 'Training runs on the CPU backend instead: same results, only slower. For speed, open the link in a recent Chrome or Edge (or enable WebGPU in this browser).',
  },
  ERR_INSECURE_CONTEXT: {
    level: 'warning',
    title: 'No WebGPU over plain http',
    detail: 'Browsers offer WebGPU only on https pages (or localhost), and this page came over plain http from a network address. Training runs on the CPU backend instead: same results, only slower. For WebGPU, restart the server with: npm start -- --https (then open the https link it prints or the room view shows).',
  },
  ERR_FALLBACK_ADAPTER: {
    level: 'info',
    title: 'Software GPU',
    detail: 'WebGPU is running on a software (fallback) adapter, so steps are slow. Results are unaffected. A device with a hardware GPU will be faster.',
  },
  ERR_DEVICE_LOST: {
    level: 'error',
    title: 'The GPU device was lost',
    detail: 'The browser reset the GPU (driver update, sleep, or memory pressure). Reload this tab to rejoin the room; the other tabs keep their place.',
  },
  ERR_GPU_VALIDATION: {
    level: 'error',
    title: 'A GPU computation failed',
    detail: 'The GPU rejected a computation. Reload the tab; if it happens again, run with the CPU backend and report the technical details below.',
  },
  ERR_ROOM_FULL: {
    level: 'error',
    title: 'This room is full',
    detail: 'The room already has as many tabs as it allows. Create a new room, or close a tab in this one and try the link again.',
  },
  ERR_ROOM_NOT_FOUND: {
    level: 'error',
    title: 'Unknown room link',
    detail: 'The server does not know this room (it may have emptied, or the server restarted). Ask for a new link, or create a room.',
  },
  ERR_BAD_LINK: {
    level: 'error',
    title: 'That is not a room link',
    detail: 'Paste the whole link a room shows (it ends in ?room= followed by 22 or more letters and digits), or create a new room.',
  },
  ERR_LINK_SETTINGS: {
    level: 'warning',
    title: 'Some settings in the link were not used',
    detail: 'The link asked for settings this app does not accept. Those keep their usual values and the rest of the link was applied; check the settings before pressing Start, or ask for a corrected link.',
  },
  ERR_ROOM_REPLACED: {
    level: 'info',
    title: 'A new room with the link’s settings',
    detail: 'The room of this link no longer exists (everyone left, or the server restarted), so a new room with the settings of the link was opened. Share its link, shown above, with the others.',
  },
  ERR_PEER_LEFT: {
    level: 'warning',
    title: 'A peer left',
    detail: 'A tab closed or lost its connection. Training continues with the tabs that remain, from the last completed step. Open the room link again to bring a tab back.',
  },
  ERR_PEER_DROPPED: {
    level: 'warning',
    title: 'A peer was dropped from the run',
    detail: 'A person dropped this tab from the run (the details name who), usually because everyone was waiting for it. The others continue from the last completed step; to bring it back, reload that tab.',
  },
  ERR_MEMBERSHIP_CHANGED: {
    level: 'warning',
    title: 'The room changed during a step',
    detail: 'A tab joined or left while a step was running. The step is repeated with the new set of tabs; no action needed.',
  },
  ERR_LINK_MISMATCH: {
    level: 'error',
    title: 'A peer uses another kind of connection',
    detail: 'This tab and that peer connect in different ways (statistics on a connection of their own on one side only), so they cannot train together; the others train without it. Open both tabs with the same settings (same link and app version), then reload the one that differs.',
  },
  ERR_TIMEOUT: {
    level: 'warning',
    title: 'A peer did not answer in time',
    detail: 'A peer was too slow or its connection stalled. If it does not recover, reload that tab; the others continue without it.',
  },
  ERR_SIGNALING: {
    level: 'warning',
    title: 'Lost the connection to the room server',
    detail: 'Reconnecting. Tabs that are already connected keep training; new tabs cannot join until the server is back.',
  },
  ERR_RECONNECTING: {
    level: 'warning',
    title: 'Reconnecting to the room server',
    detail: 'The connection to the room server dropped; retrying. Training between connected tabs is not affected.',
  },
  ERR_BAD_FRAME: {
    level: 'warning',
    title: 'A peer sent malformed data',
    detail: 'A peer sent data that failed its checks, so it was dropped from the room. Reload that tab to let it rejoin.',
  },
  ERR_CONFIG_REJECTED: {
    level: 'warning',
    title: 'Some room settings were ignored',
    detail: 'Another tab sent settings this tab does not accept (out of range, or from a different version). The previous values are kept; reload the tabs so all run the same version.',
  },
  ERR_JOIN_RETRYING: {
    level: 'warning',
    title: 'Waiting for the room server',
    detail: 'The room server cannot be reached or has just restarted; this tab keeps trying (up to 2 minutes) and joins the room as soon as it is back. No action needed.',
  },
  ERR_RUN_GONE: {
    level: 'error',
    title: 'The run\'s other tabs did not come back',
    detail: 'This tab joined a run in progress, but none of the tabs training it is connected. Press Start to begin a new run.',
  },
  ERR_RUN_IN_PROGRESS: {
    level: 'info',
    title: 'Joining a run in progress',
    detail: 'The room is already training. This tab receives the current model and joins at the next step; no action needed.',
  },
  ERR_RUN_LOG_STORAGE: {
    level: 'warning',
    title: 'The run log is not being saved in this browser',
    detail: 'Training goes on, and Export JSON/CSV still saves this run now; after a reload it will not be offered again. The browser’s storage for this site may be full or switched off (private windows): free some space or use a normal window.',
  },
  ERR_BN_SINGLE_SAMPLE: {
    level: 'error',
    title: 'Batch too small for BatchNorm',
    detail: 'Each worker needs at least 2 samples per step. Raise the per-worker batch.',
  },
  ERR_NONFINITE_STATS: {
    level: 'error',
    title: 'Training diverged',
    detail: 'A BatchNorm statistic became NaN or infinite, so training stopped before the model took it in (the details name the layer and step). Press Reset, lower the learning rate, then Start.',
  },
  ERR_BAD_PEER_ROWS: {
    level: 'error',
    title: 'A peer sent invalid statistics',
    detail: 'Another tab sent BatchNorm statistics that failed their checks (the details name its worker and tab). Reload that tab, then Reset and Start.',
  },
  ERR_WORLD_TOO_LARGE: {
    level: 'error',
    title: 'Too many workers',
    detail: 'A tab asked for more virtual workers than a room allows (64 per tab, 16 tabs). Lower the workers per tab, then Start.',
  },
  ERR_NO_WORKER: {
    level: 'info',
    title: 'Training runs on the page itself',
    detail: 'This browser could not start a background worker for training (a content security policy, or an older browser), so each step runs on the page: it may respond slowly while training. Results are the same. A recent Chrome, Edge or Firefox trains in the background.',
  },
  ERR_WORKER_FAILED: {
    level: 'error',
    title: 'The training worker hit an error',
    detail: 'The background worker that computes the steps reported an error it did not handle. If training stalls, reload this tab to rejoin the room; the other tabs keep their place.',
  },
  ERR_SESSION: {
    level: 'error',
    title: 'Training stopped',
    detail: 'The training session hit an error. Press Reset, then Start; if it repeats, reload the tab.',
  },
};

const UNKNOWN: Wording = {
  level: 'error',
  title: 'Something went wrong',
  detail: 'An unexpected error occurred. Reload the tab; if it repeats, report the technical details below.',
};

/** The person-facing wording for a code (unknown codes get a generic message). */
export function wordingFor(code: string): Wording {
  return WORDING[code] ?? UNKNOWN;
}

/** True when `code` has specific wording (used by tests to keep the table complete). */
export function hasWording(code: string): boolean {
  return code in WORDING;
}

/**
 * Turns anything thrown (an Error with a `code`, a MeshError naming a peer, a string) into a notice.
 * `key` defaults to the code, so the same failure repeated shows once; pass a peer id to keep
 * notices about different peers apart.
 */
export function toNotice(err: unknown, opts: { now?: number; key?: string; peerLabel?: string } = {}): Notice {
  const e = err as { code?: unknown; message?: unknown; peerId?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : 'ERR_UNKNOWN';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const wording = wordingFor(code);
  const peer = opts.peerLabel ?? (typeof e?.peerId === 'string' ? e.peerId : undefined);
  const notice: Notice = {
    key: opts.key ?? (peer ? `${code}:${peer}` : code),
    code,
    level: wording.level,
    title: peer ? `${wording.title} (${peer})` : wording.title,
    detail: wording.detail,
    at: opts.now ?? Date.now(),
  };
  if (message && message !== wording.title) notice.technical = message;
  return notice;
}

/** An Error with a stable code, as the rest of the project raises them. */
export function appError(code: AppErrorCode, message: string): Error & { code: AppErrorCode } {
  return Object.assign(new Error(message), { code });
}
