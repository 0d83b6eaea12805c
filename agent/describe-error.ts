/** A short, single-line description of anything thrown, for logs and `command_failed` reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
