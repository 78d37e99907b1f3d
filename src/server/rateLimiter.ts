/** Per-socket token bucket: `burst` messages at once, refilled at `perSecond` messages per second. */
export class TokenBucket {
  private tokens: number;
  private lastRefillAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.lastRefillAt = now();
  }

  /** Takes one token; false means the message exceeds the rate and must be refused. */
  take(): boolean {
    const at = this.now();
    const elapsedMs = Math.max(0, at - this.lastRefillAt);
    this.lastRefillAt = at;
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.perSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
