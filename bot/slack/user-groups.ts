import type { Policy } from '../../shared/config/policy.js';
import type { Logger } from '../../shared/log.js';
import type { SlackCalls } from './slack-calls.js';

interface Cached {
  members: ReadonlySet<string>;
  until: number;
}

/**
 * Which of a service's permission groups (Slack user groups, `S…`) a person belongs to, read with
 * `usergroups.users.list` (scope `usergroups:read`) and cached for `cacheMs`. A group Slack will
 * not list counts as not containing anyone for a short while (and is logged): permissions fail
 * closed, the denial says who may act, and the next request tries again.
 */
export class UserGroups {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<ReadonlySet<string>>>();

  constructor(
    private readonly calls: Pick<SlackCalls, 'userGroupMembers'>,
    private readonly policy: () => Policy,
    private readonly logger: Logger,
    private readonly cacheMs = 60_000,
    private readonly failureCacheMs = 5_000,
  ) {}

  /** The groups named in `service`'s permissions that `userId` is a member of. */
  async groupsOf(userId: string, service: string): Promise<string[]> {
    const permissions = this.policy().services[service]?.permissions;
    if (!permissions) return [];
    const groups = [
      ...new Set(
        [...permissions.start, ...permissions.approve, ...permissions.abort].filter((id) =>
          id.startsWith('S'),
        ),
      ),
    ];
    const memberships = await Promise.all(
      groups.map(async (group) => ((await this.members(group)).has(userId) ? group : undefined)),
    );
    return memberships.filter((g): g is string => g !== undefined);
  }

  private async members(group: string): Promise<ReadonlySet<string>> {
    const cached = this.cache.get(group);
    if (cached && cached.until > Date.now()) return cached.members;
    let pending = this.inflight.get(group);
    if (!pending) {
      pending = this.fetch(group).finally(() => this.inflight.delete(group));
      this.inflight.set(group, pending);
    }
    return pending;
  }

  private async fetch(group: string): Promise<ReadonlySet<string>> {
    try {
      const members = new Set(await this.calls.userGroupMembers(group));
      this.cache.set(group, { members, until: Date.now() + this.cacheMs });
      return members;
    } catch (err) {
      this.logger.warn(
        { err, group },
        'could not read a user group (is the usergroups:read scope granted?); treating it as empty',
      );
      const members = new Set<string>();
      this.cache.set(group, { members, until: Date.now() + this.failureCacheMs });
      return members;
    }
  }
}
