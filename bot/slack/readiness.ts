/** One dependency the bot needs to serve: Kafka, Redis, Slack. `check` rejects when it is not reachable. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface ReadinessReport {
  ready: boolean;
  /** `ok`, or why not. */
  checks: Record<string, string>;
}

/** Runs every check at once, each bounded by `timeoutMs`. */
export async function checkReadiness(
  checks: readonly ReadinessCheck[],
  timeoutMs = 2_000,
): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async ({ name, check }) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        return [name, 'ok'] as const;
      } catch (err) {
        return [name, err instanceof Error ? err.message : String(err)] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
}

/**
 * A check whose result is reused for a while (`okMs` after a success, `failMs` after a failure),
 * so a probe every few seconds does not become a call to Slack every few seconds.
 */
export function cachedCheck(
  name: string,
  check: () => Promise<unknown>,
  { okMs = 30_000, failMs = 5_000 }: { okMs?: number; failMs?: number } = {},
): ReadinessCheck {
  let last: { until: number; error?: Error } | undefined;
  let inflight: Promise<void> | undefined;
  return {
    name,
    check: async () => {
      if (last && last.until > Date.now()) {
        if (last.error) throw last.error;
        return;
      }
      inflight ??= check()
        .then(
          () => {
            last = { until: Date.now() + okMs };
          },
          (err: unknown) => {
            last = {
              until: Date.now() + failMs,
              error: err instanceof Error ? err : new Error(String(err)),
            };
          },
        )
        .finally(() => {
          inflight = undefined;
        });
      await inflight;
      if (last?.error) throw last.error;
    },
  };
}
