import type { types } from '@slack/bolt';
import { cardSamples } from './card-samples.js';
import { startedTargets } from '../../shared/rollout/draft.js';
import { nearestNames } from '../../shared/config/plan-from-policy.js';
import type { Policy } from '../../shared/config/policy.js';
import { isRolloutError, RolloutError } from '../../shared/errors.js';
import { planRelease } from '../../shared/release/plan.js';
import type { Logger } from '../../shared/log.js';
import type { HealthSampleStore } from '../../shared/ports/health-samples.js';
import type { ReleaseService } from '../release-service.js';
import { PermissionDeniedError, type RolloutService } from '../rollout-service.js';
import { renderCard } from './card.js';
import type { RolloutAction, SlashCommand } from './command-parser.js';
import type { SurfaceMetrics } from './metrics.js';
import {
  actedText,
  helpText,
  historyText,
  listText,
  planText,
  refusalText,
  startedText,
} from './replies.js';
import type { ReleaseState } from '../../shared/release/state.js';
import {
  releasePlanText,
  activeReleasesText,
  releaseStartedText,
  releaseStatusText,
  ReleaseNotRunError,
} from './release-text.js';
import { quotesOf } from './rollout-text.js';
import { escapeText, literal, typedQuote, type Quote } from './slack-text.js';
import type { UserGroups } from './user-groups.js';

export interface Reply {
  text: string;
  blocks?: types.KnownBlock[];
  /** The request was refused (bad input, denied, not possible now) or failed. */
  refused?: boolean;
}

/** Who asked, as Slack says. */
export interface Requester {
  userId: string;
  channelId: string;
}

export interface RolloutCommandsDeps {
  service: RolloutService;
  /** Starts and steers releases; absent: `/rollout start a@1 b@2` only plans (`--dry-run`). */
  releases?: ReleaseService;
  policy: () => Policy;
  groups: Pick<UserGroups, 'groupsOf'>;
  samples: HealthSampleStore;
  metrics: SurfaceMetrics;
  logger: Logger;
}

/**
 * What `/rollout` and the card's buttons do, once Slack has been acknowledged. Every outcome is a
 * reply for the person who asked; refusals say what was wrong and what would be right. Denials
 * are logged as audit lines (`audit: "denied"`); the rollout service also writes those on a
 * rollout into its history.
 */
export class RolloutCommands {
  constructor(private readonly deps: RolloutCommandsDeps) {}

  async execute(command: SlashCommand, who: Requester): Promise<Reply> {
    const subcommand = command.type === 'act' ? command.action : command.type;
    try {
      const reply = await this.run(command, who);
      this.deps.metrics.commands.inc({ subcommand, result: 'ok' });
      return reply;
    } catch (err) {
      return this.refused(subcommand, err, who, await this.quotesFor(command));
    }
  }

  /**
   * What people typed that a refusal of `command` may quote: the names it gave (a service or a
   * cluster no policy knows is quoted back) and, for an action on a rollout, what was typed into
   * that rollout (a refusal can describe its state, abort reason included).
   */
  private async quotesFor(command: SlashCommand): Promise<Quote[]> {
    switch (command.type) {
      case 'start': {
        const { service, version, clusters = [] } = command.request;
        return [service, version, ...clusters].map(typedQuote);
      }
      case 'start_release':
        return command.members.flatMap((m) => [m.service, m.version]).map(typedQuote);
      case 'act': {
        const state = await this.deps.service.get(command.rolloutId).catch(() => undefined);
        return [typedQuote(command.rolloutId), ...(state ? quotesOf(state) : [])];
      }
      case 'status':
        return command.target ? [typedQuote(command.target)] : [];
      case 'history':
        return [typedQuote(command.service)];
      default:
        return [];
    }
  }

  /** A button on the card, or `/rollout approve|pause|resume|abort`. */
  async act(
    action: RolloutAction,
    rolloutId: string,
    who: Requester,
    reason?: string,
  ): Promise<Reply> {
    return this.execute({ type: 'act', action, rolloutId, ...(reason ? { reason } : {}) }, who);
  }

  private async run(command: SlashCommand, who: Requester): Promise<Reply> {
    const { service } = this.deps;
    switch (command.type) {
      case 'help':
        return { text: helpText() };
      case 'start':
        return this.start(command, who);
      case 'start_release':
        return this.startRelease(command, who);
      case 'status': {
        const release = command.target && (await this.deps.releases?.get(command.target));
        if (release) return { text: releaseStatusText(release) };
        return this.status(command.target, who);
      }
      case 'list': {
        const releases = (await this.deps.releases?.active()) ?? [];
        const text = listText(await service.list());
        return { text: releases.length === 0 ? text : `${text}\n${activeReleasesText(releases)}` };
      }
      case 'history': {
        this.requireService(command.service);
        return { text: historyText(command.service, await service.history(command.service)) };
      }
      case 'act': {
        const release = await this.deps.releases?.get(command.rolloutId);
        if (release) return this.actOnRelease(release, command, who);
        const state = await service.get(command.rolloutId);
        if (!state) throw await this.notFound(command.rolloutId);
        this.requireChannel(state.plan.service, command.action, who);
        const groups = await this.deps.groups.groupsOf(who.userId, state.plan.service);
        const action =
          command.action === 'abort'
            ? {
                type: 'abort' as const,
                // The outcome already names who aborted; the reason is the person's words only.
                reason: command.reason ?? '',
              }
            : { type: command.action };
        const after = await service.act(command.rolloutId, action, {
          id: `user:${who.userId}`,
          groups,
        });
        return { text: actedText(command.action, after) };
      }
      case 'force_finish':
        return this.forceFinish(command, who);
      default: {
        const never: never = command;
        throw new Error(`unknown command ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * `/rollout force-finish <id> <reason>` says what it would leave behind and asks for
   * `--confirm`; with it, the rollout ends `failed` and the service is released.
   */
  private async forceFinish(
    command: Extract<SlashCommand, { type: 'force_finish' }>,
    who: Requester,
  ): Promise<Reply> {
    const { service } = this.deps;
    const state = await service.get(command.rolloutId);
    if (!state) throw await this.notFound(command.rolloutId);
    this.requireChannel(state.plan.service, 'force-finish', who);
    if (state.status !== 'rolling_back') {
      throw new RolloutError(
        'invalid_transition',
        `force-finish is only for a rollback that cannot finish; ${state.id} is ${state.status.replace('_', ' ')}` +
          (['succeeded', 'rolled_back', 'aborted', 'failed'].includes(state.status)
            ? ''
            : `. To stop it, abort it: /rollout abort ${state.id}`),
      );
    }
    if (!command.confirmed) {
      // Clusters of waves never started were sent nothing: there is nothing to confirm there.
      const left = startedTargets(state)
        .filter(([, c]) => c.status !== 'rolled_back')
        .map(([name, c]) => `${name} (${c.status}${c.failure ? `: ${c.failure}` : ''})`);
      return {
        text:
          `Force-finishing \`${state.id}\` ends it as failed and releases *${escapeText(state.plan.service)}* ` +
          `without waiting for ${left.length > 0 ? escapeText(left.join(', ')) : 'any cluster'} to confirm the rollback: ` +
          `those may keep serving \`${escapeText(state.plan.version)}\` until someone restores them by hand. ` +
          `Nothing was changed. To do it, run \`/rollout force-finish ${state.id} ${literal(command.reason)} --confirm\`.`,
      };
    }
    const groups = await this.deps.groups.groupsOf(who.userId, state.plan.service);
    const after = await service.act(
      state.id,
      { type: 'force_finish', reason: command.reason },
      { id: `user:${who.userId}`, groups },
    );
    // The rollout service writes its audit line and history entry.
    return { text: actedText('force_finish', after) };
  }

  private async start(
    command: Extract<SlashCommand, { type: 'start' }>,
    who: Requester,
  ): Promise<Reply> {
    const policy = this.deps.policy();
    const request = { ...command.request, startedBy: who.userId };
    if (!command.dryRun && policy.services[request.service] !== undefined) {
      this.requireChannel(request.service, 'start', who);
    }
    const groups = await this.deps.groups.groupsOf(who.userId, request.service);
    if (command.dryRun) {
      const { plan, refusals } = await this.deps.service.preview(request);
      const servicePolicy = policy.services[plan.service]!;
      const allowed = servicePolicy.permissions.start;
      const mayStart =
        allowed.length === 0 ||
        allowed.includes(who.userId) ||
        groups.some((g) => allowed.includes(g));
      return {
        text: planText(plan, servicePolicy, {
          userId: who.userId,
          mayStart,
          refusals: [...refusals.map((r) => r.message), ...this.channelRefusals(plan.service, who)],
        }),
      };
    }
    const state = await this.deps.service.start(request, { id: `user:${who.userId}`, groups });
    this.deps.metrics.rolloutsStarted.inc({ service: state.plan.service });
    this.deps.logger.info(
      { audit: 'started', rolloutId: state.id, user: who.userId, service: state.plan.service },
      'rollout started from Slack',
    );
    return { text: startedText(state, policy.services[state.plan.service]?.channel) };
  }

  /**
   * A release is planned (every member checked against the policy, the order worked out) and
   * shown with `--dry-run`. Running one is not built yet: a start without `--dry-run` is refused
   * after the same checks, so bad input still hears what is wrong first.
   */
  private async startRelease(
    command: Extract<SlashCommand, { type: 'start_release' }>,
    who: Requester,
  ): Promise<Reply> {
    const plan = planRelease(this.deps.policy(), command.members);
    if (command.dryRun) return { text: releasePlanText(plan, command.reason) };
    const { releases } = this.deps;
    if (releases === undefined) {
      throw new ReleaseNotRunError(plan.members.map((m) => `${m.service}@${m.version}`).join(' '));
    }
    // A release spans channels: it is taken in the channel of any member whose team sees it.
    const policy = this.deps.policy();
    if (!plan.members.some((m) => policy.services[m.service]?.channel === who.channelId)) {
      for (const m of plan.members) this.requireChannel(m.service, 'start', who);
    }
    // Permissions are per member service: the groups the person has in any of them count.
    const groups = [
      ...new Set(
        (
          await Promise.all(
            plan.members.map((m) => this.deps.groups.groupsOf(who.userId, m.service)),
          )
        ).flat(),
      ),
    ];
    const state = await releases.start(
      command.members,
      { id: `user:${who.userId}`, userId: who.userId, groups },
      command.reason,
    );
    this.deps.logger.info(
      { audit: 'started', releaseId: state.id, user: who.userId },
      'release started from Slack',
    );
    return { text: releaseStartedText(state) };
  }

  /** `/rollout pause|resume|abort <release-id>`: acts on every member through the release. */
  private async actOnRelease(
    release: ReleaseState,
    command: Extract<SlashCommand, { type: 'act' }>,
    who: Requester,
  ): Promise<Reply> {
    const { releases } = this.deps;
    if (releases === undefined || command.action === 'approve') {
      throw new RolloutError(
        'invalid_transition',
        `a release is approved member by member, on each member's card; /rollout status ${release.id} lists them`,
      );
    }
    const groups = [
      ...new Set(
        (
          await Promise.all(
            release.plan.members.map((m) => this.deps.groups.groupsOf(who.userId, m.service)),
          )
        ).flat(),
      ),
    ];
    const action =
      command.action === 'abort'
        ? { type: 'abort' as const, reason: command.reason ?? '' }
        : { type: command.action };
    const after = await releases.act(release.id, action, {
      id: `user:${who.userId}`,
      userId: who.userId,
      groups,
    });
    return { text: releaseStatusText(after) };
  }

  private async status(target: string | undefined, who: Requester): Promise<Reply> {
    const policy = this.deps.policy();
    const channelService = Object.entries(policy.services).find(
      ([, s]) => s.channel === who.channelId,
    )?.[0];
    const wanted = target ?? channelService;
    if (wanted === undefined) return { text: listText(await this.deps.service.list()) };
    const state = await this.deps.service.status(wanted);
    if (!state) {
      if (policy.services[wanted]) {
        return { text: `*${escapeText(wanted)}* has no rollouts yet.` };
      }
      throw await this.notFound(wanted, true);
    }
    const samples = await cardSamples(this.deps.samples, state).catch(() => []);
    const card = renderCard(state, { samples, buttons: false });
    return { text: card.text, blocks: card.blocks };
  }

  /**
   * With `permissions.channelOnly` (the default), starting and acting on a service's rollouts is
   * taken only in the service's channel, where the team sees it: not in a DM, not elsewhere.
   */
  private requireChannel(service: string, action: string, who: Requester): void {
    const policy = this.deps.policy().services[service];
    if (policy === undefined || !policy.permissions.channelOnly) return;
    if (who.channelId === policy.channel) return;
    throw new WrongChannelError(action, service, policy.channel);
  }

  /** For a dry run: what `requireChannel` would refuse, as a line. */
  private channelRefusals(service: string, who: Requester): string[] {
    try {
      this.requireChannel(service, 'start', who);
      return [];
    } catch (err) {
      return [(err as Error).message];
    }
  }

  private requireService(name: string): void {
    const known = Object.keys(this.deps.policy().services);
    if (known.includes(name)) return;
    const near = nearestNames(name, known);
    throw new UnknownTargetError(
      `unknown service "${name}"` +
        (near.length > 0 ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : '') +
        ` Known services: ${known.join(', ') || 'none'}.`,
    );
  }

  /** An unknown rollout id, with the nearest active ids (and services, for `status`). */
  private async notFound(name: string, orService = false): Promise<UnknownTargetError> {
    const active = (await this.deps.service.list()).map((s) => s.id);
    const services = orService ? Object.keys(this.deps.policy().services) : [];
    const near = nearestNames(name, [...active, ...services]);
    return new UnknownTargetError(
      (orService ? `no rollout or service is called "${name}"` : `no rollout has id "${name}"`) +
        (near.length > 0 ? `; did you mean ${near.map((n) => `\`${n}\``).join(' or ')}?` : '.') +
        ' `/rollout list` shows the active rollouts' +
        (orService ? `; the services are ${services.join(', ') || 'none'}.` : '.'),
    );
  }

  private refused(
    subcommand: string,
    err: unknown,
    who: Requester,
    quotes: readonly Quote[],
  ): Reply {
    const denied =
      err instanceof PermissionDeniedError ||
      err instanceof WrongChannelError ||
      isRolloutError(err, 'not_permitted') ||
      isRolloutError(err, 'four_eyes');
    if (denied) {
      this.deps.logger.warn(
        { audit: 'denied', subcommand, user: who.userId, reason: (err as Error).message },
        `${subcommand} denied`,
      );
    } else if (!isRolloutError(err)) {
      this.deps.logger.error({ err, subcommand, user: who.userId }, 'slash command failed');
    }
    this.deps.metrics.commands.inc({
      subcommand,
      result: denied ? 'denied' : isRolloutError(err) ? 'refused' : 'error',
    });
    return { text: refusalText(err, quotes), refused: true };
  }
}

/** A name that is neither a rollout nor a service; the message suggests the nearest. */
export class UnknownTargetError extends RolloutError {
  constructor(message: string) {
    super('unknown_rollout', message);
  }
}

/** An action on a service's rollouts asked for outside the service's channel. */
export class WrongChannelError extends RolloutError {
  constructor(action: string, service: string, channel: string) {
    super(
      'wrong_channel',
      `${action} for ${service} is taken only in <#${channel}>, where its team sees it ` +
        `(services.${service}.permissions.channelOnly); run the command there`,
    );
  }
}
