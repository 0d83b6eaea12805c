import type { Policy } from '../../shared/config/policy.js';

/**
 * Who and where the local console pretends there is, read from the policy: the channels of the
 * services, the people its permissions name (so four-eyes and denials can be tried), and one
 * member for each user group they name (so group permissions can be tried too). Pure.
 */

/** The person typing into the console unless they pick someone else. */
export const CONSOLE_USER = 'U0LOCAL';

export interface ConsoleChannel {
  id: string;
  /** Shown as `#name`: the services posting there. */
  name: string;
  services: string[];
}

export interface ConsolePerson {
  id: string;
  /** What the page says beside the id. */
  note: string;
}

export interface ConsoleDirectory {
  channels: ConsoleChannel[];
  people: ConsolePerson[];
  /** User group id → its members, for the Web API's `usergroups.users.list`. */
  userGroups: Record<string, string[]>;
}

export function consoleDirectory(policy: Policy): ConsoleDirectory {
  const channels = new Map<string, ConsoleChannel>();
  const users = new Set<string>();
  const groups = new Set<string>();
  for (const [name, service] of Object.entries(policy.services)) {
    const channel = channels.get(service.channel) ?? { id: service.channel, name, services: [] };
    channel.services.push(name);
    channel.name = channel.services.join('-');
    channels.set(service.channel, channel);
    const { start, approve, abort } = service.permissions;
    for (const id of [...start, ...approve, ...abort])
      (id.startsWith('S') ? groups : users).add(id);
  }
  const userGroups: Record<string, string[]> = {};
  const people: ConsolePerson[] = [{ id: CONSOLE_USER, note: 'you' }];
  for (const id of [...users].sort()) {
    if (id !== CONSOLE_USER) people.push({ id, note: roleOf(policy, id) });
  }
  for (const group of [...groups].sort()) {
    const member = memberOf(group, users);
    userGroups[group] = [member];
    people.push({ id: member, note: `member of @${group}` });
  }
  return { channels: [...channels.values()], people, userGroups };
}

/** `S0LEADS` → `U0LEADS`, unless a person of that id exists already. */
function memberOf(group: string, users: Set<string>): string {
  let id = `U${group.slice(1)}`;
  while (users.has(id)) id = `${id}X`;
  return id;
}

function roleOf(policy: Policy, id: string): string {
  const roles = new Set<string>();
  for (const service of Object.values(policy.services)) {
    if (service.permissions.approve.includes(id)) roles.add('approves');
    if (service.permissions.start.includes(id)) roles.add('starts');
    if (service.permissions.abort.includes(id)) roles.add('aborts');
  }
  return `named in the policy (${[...roles].join(', ')})`;
}
