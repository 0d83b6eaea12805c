import { systemClock, type Clock } from '../../shared/clock.js';
import type { HeldLock, ServiceLocks } from '../../shared/ports/service-locks.js';

export class MemoryServiceLocks implements ServiceLocks {
  private readonly held = new Map<string, { rolloutId: string; acquiredAt: number }>();
  private readonly fences = new Map<string, number>();

  constructor(private readonly clock: Clock = systemClock) {}

  async acquire(service: string, rolloutId: string): Promise<string> {
    const lock = this.held.get(service);
    if (lock !== undefined) return lock.rolloutId;
    this.held.set(service, { rolloutId, acquiredAt: this.clock.now() });
    return rolloutId;
  }

  async release(service: string, rolloutId: string): Promise<void> {
    if (this.held.get(service)?.rolloutId === rolloutId) this.held.delete(service);
  }

  async holder(service: string): Promise<string | undefined> {
    return this.held.get(service)?.rolloutId;
  }

  async holders(): Promise<HeldLock[]> {
    return [...this.held].map(([service, lock]) => ({ service, ...lock }));
  }

  async nextFence(service: string): Promise<number> {
    const fence = Math.max((this.fences.get(service) ?? 0) + 1, this.clock.now());
    this.fences.set(service, fence);
    return fence;
  }
}
