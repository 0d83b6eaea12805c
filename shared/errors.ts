/**
 * Every error we raise on purpose. `code` is stable and mapped at the edges (a Slack reply, a
 * DLQ reason, an exit message); the message says what happened and what to do.
 */
export class RolloutError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export function isRolloutError(err: unknown, code?: string): err is RolloutError {
  return err instanceof RolloutError && (code === undefined || err.code === code);
}

export class VersionConflictError extends RolloutError {
  constructor(
    readonly rolloutId: string,
    readonly expectedVersion: number,
  ) {
    super(
      'version_conflict',
      `rollout ${rolloutId} changed since version ${expectedVersion}; reload it and apply the input again`,
    );
  }
}

export class RolloutExistsError extends RolloutError {
  constructor(readonly rolloutId: string) {
    super('rollout_exists', `a rollout with id ${rolloutId} already exists`);
  }
}

export class ConfigError extends RolloutError {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super('invalid_config', `${variable}: ${detail}`);
  }
}

/** A short, single-line description of anything thrown: for logs, DLQ and `command_failed` reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
}
