import { describeError, RolloutError } from '../../shared/errors.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import { LeaseConflict, type LeaseApi, type LeaseRecord } from './lease-api.js';

export interface LeaseElectorOptions {
  api: LeaseApi;
  /** This replica's name in the lease (`<host>:<pid>`). */
  identity: string;
  /** How long a lease holds without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** How often the lease is renewed or tried for; well under `leaseDurationMs`. Default a third of it. */
  renewEveryMs?: number;
  /** A monotonic-enough clock, ms. Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

/**
 * Leader election over a Kubernetes Lease, as client-go does it: the holder renews every
 * `renewEveryMs`; another replica takes the lease only once it has seen the same lease record
 * unchanged for `leaseDurationMs` (measured on its own clock, so clocks need not agree).
 *
 * Never two leaders in steady state: a leader counts itself leader only until `leaseDurationMs`
 * after the start of its last successful renewal, and a follower cannot take over before a full
 * duration after it last saw the record change, which is after that renewal started. A leader
 * that cannot reach the API steps down on its own when that time has passed.
 */
export class LeaseElector {
  private readonly durationMs: number;
  private readonly renewEveryMs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  /** Until when (our clock) we hold the lease; 0 when we do not. */
  private leadingUntil = 0;
  /** The lease record last seen and when we first saw it, for expiry on our own clock. */
  private observed: { resourceVersion: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  /** Throws `RolloutError('invalid_config')` when the renewal is not shorter than the lease. */
  constructor(private readonly options: LeaseElectorOptions) {
    this.durationMs = options.leaseDurationMs ?? 15_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.durationMs / 3);
    if (!(this.durationMs > 0 && this.renewEveryMs > 0 && this.renewEveryMs < this.durationMs)) {
      throw new RolloutError(
        'invalid_config',
        `lease election: renewEveryMs (${this.renewEveryMs}) must be positive and shorter than leaseDurationMs (${this.durationMs})`,
      );
    }
    this.now = options.now ?? Date.now;
    this.logger = (options.logger ?? silentLogger).child({ component: 'lease-elector' });
  }

  /** Whether this replica holds the lease now. */
  isLeader(): boolean {
    return this.now() < this.leadingUntil;
  }

  /** Tries for the lease at once, then every `renewEveryMs`. */
  start(): void {
    const loop = async () => {
      await this.tick();
      if (this.stopped) return;
      this.timer = setTimeout(() => void loop(), this.renewEveryMs);
      this.timer.unref();
    };
    void loop();
  }

  /**
   * Stops trying; a leader releases the lease (no holder) so another replica takes over at once
   * instead of after the duration. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.isLeader()) return;
    this.leadingUntil = 0;
    try {
      const lease = await this.options.api.read();
      if (lease?.holder === this.options.identity) {
        await this.options.api.replace(
          { ...lease, holder: undefined, renewMs: undefined },
          lease.resourceVersion,
        );
      }
    } catch (err) {
      this.logger.info({ err: describeError(err) }, 'could not release the lease; it expires');
    }
  }

  /** One round: renew, take an expired lease, or follow. Never throws. */
  async tick(): Promise<void> {
    const started = this.now();
    const { api, identity } = this.options;
    try {
      const lease = await api.read();
      if (lease === undefined) {
        await this.won(started, api.create(this.claim(started, 0)));
        return;
      }
      if (this.observed?.resourceVersion !== lease.resourceVersion) {
        this.observed = { resourceVersion: lease.resourceVersion, at: started };
      }
      if (lease.holder === identity) {
        await this.won(
          started,
          api.replace(this.claim(started, lease.transitions), lease.resourceVersion),
        );
        return;
      }
      if (lease.holder === undefined || this.expired(lease, started)) {
        await this.won(
          started,
          api.replace(this.claim(started, lease.transitions + 1), lease.resourceVersion),
        );
        return;
      }
      this.follow(lease.holder);
    } catch (err) {
      if (err instanceof LeaseConflict) {
        this.follow('another replica');
        return;
      }
      // Unreachable: a leader keeps leading only until its last renewal's time runs out.
      this.logger.warn({ err: describeError(err) }, 'cannot reach the lease');
    }
  }

  private expired(lease: LeaseRecord, now: number): boolean {
    const seenSince = this.observed?.at ?? now;
    return now - seenSince >= Math.max(lease.durationMs, this.durationMs);
  }

  private claim(now: number, transitions: number) {
    return {
      holder: this.options.identity,
      durationMs: this.durationMs,
      renewMs: now,
      transitions,
    };
  }

  private async won(started: number, write: Promise<LeaseRecord>): Promise<void> {
    const lease = await write;
    const was = this.isLeader();
    this.observed = { resourceVersion: lease.resourceVersion, at: started };
    this.leadingUntil = this.stopped ? 0 : started + this.durationMs;
    if (!was) this.logger.info({ identity: this.options.identity }, 'now the leader: sampling');
  }

  private follow(holder: string): void {
    if (this.leadingUntil > 0) {
      this.logger.info({ holder }, 'no longer the leader: standing by');
    }
    this.leadingUntil = 0;
  }
}
