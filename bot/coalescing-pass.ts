/**
 * Runs a pass over stored work (an outbox) on demand, one at a time. A request that comes while a
 * pass runs is not lost and does not start a second, concurrent pass: it asks for one more pass
 * once this one ends, however many requests came meanwhile (work stored during a pass may have
 * been read past, so one more pass sees it; a burst of commits costs one pass, not one each).
 *
 * Used by the effect runner and the release runner, whose `drain()` is called after every commit.
 */
export class CoalescingPass {
  private current: Promise<void> | undefined;
  private again = false;

  constructor(private readonly pass: () => Promise<void>) {}

  /**
   * Starts a pass, or asks the running one for another round. Resolves when the passes that answer
   * this request are done; rejects with the error of a pass that threw (the next `run()` starts
   * afresh).
   */
  run(): Promise<void> {
    if (this.current) {
      this.again = true;
      return this.current;
    }
    this.current = this.loop().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  /** The passes in flight, if any (to wait for them beside other work). */
  get running(): Promise<void> | undefined {
    return this.current;
  }

  /** Resolves once no pass runs (a failed pass counts as ended). */
  async idle(): Promise<void> {
    while (this.current) await this.current.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.pass();
    } while (this.again);
  }
}
