import type { ServiceLocks } from '../../shared/ports/service-locks.js';

export class MemoryServiceLocks implements ServiceLocks {
  private readonly holders = new Map<string, string>();

  async acquire(service: string, rolloutId: string): Promise<string> {
    const holder = this.holders.get(service);
    if (holder !== undefined) return holder;
    this.holders.set(service, rolloutId);
    return rolloutId;
  }

  async release(service: string, rolloutId: string): Promise<void> {
    if (this.holders.get(service) === rolloutId) this.holders.delete(service);
  }

  async holder(service: string): Promise<string | undefined> {
    return this.holders.get(service);
  }
}
