import {
  describeQuery,
  type CanIDeployQuery,
  type ContractChecks,
  type ContractVerdict,
} from '../../shared/ports/contract-checks.js';

/**
 * `ContractChecks` in memory, for local mode and tests: it answers each question with the verdict
 * set for it (`answer`), and any other with `otherwise`. The two kinds of question are kept apart
 * as in the broker: an answer about `checkout@3.1.0 → production` says nothing about
 * `checkout@3.1.0 ↔ payments@2.0.0`.
 *
 * Why `otherwise` and not a small broker: local mode has no CI publishing pacts, so a model of the
 * matrix would answer "never published" to every question and hold every release. Local mode
 * passes `LOCAL_MODE_VERDICT` (a `yes` that says why); tests pass what they exercise.
 */
export class MemoryContractChecks implements ContractChecks {
  private readonly answers = new Map<string, ContractVerdict>();
  /** Every question asked, in order: what tests assert on. */
  readonly asked: CanIDeployQuery[] = [];

  constructor(private readonly otherwise: ContractVerdict) {}

  /** From now on, `query` is answered `verdict` (until set again). */
  answer(query: CanIDeployQuery, verdict: ContractVerdict): this {
    this.answers.set(keyOf(query), structuredClone(verdict));
    return this;
  }

  canIDeploy(query: CanIDeployQuery): Promise<ContractVerdict> {
    this.asked.push(structuredClone(query));
    return Promise.resolve(structuredClone(this.answers.get(keyOf(query)) ?? this.otherwise));
  }
}

/** What local mode answers when no Pact Broker is configured. */
export const LOCAL_MODE_VERDICT: ContractVerdict = {
  verdict: 'yes',
  reason:
    'local mode without a Pact Broker (PACT_BROKER_URL unset): contracts are not checked and count as compatible',
};

function keyOf(query: CanIDeployQuery): string {
  return describeQuery(query);
}
