/**
 * Asks whether a version of a service may be deployed given its contracts (consumer-driven pacts):
 * Pact's can-i-deploy. Implementations: the Pact Broker's HTTP API, and a memory one for local
 * mode and tests.
 */

/** A version of one pacticipant (a service as the broker names it). */
export interface PacticipantVersion {
  pacticipant: string;
  version: string;
}

/**
 * The question: may `pacticipant@version` run beside `to`?
 *
 * - `{ environment }`: beside every version deployed there (its providers and its consumers),
 *   can-i-deploy's `--to-environment`;
 * - `{ pacticipant, version }`: beside that one version of one other pacticipant, both ways (the
 *   new consumer against the new provider of the same release, neither deployed yet).
 */
export interface CanIDeployQuery extends PacticipantVersion {
  to: { environment: string } | PacticipantVersion;
}

/** Why an answer is `unknown` when the broker itself did not say so. */
export type ContractCheckProblem =
  /** No answer: connection refused, timed out, or 5xx through every retry. */
  | 'unreachable'
  /** 401/403: the token is missing, wrong or lacks permission (`PACT_BROKER_TOKEN`). */
  | 'unauthorized'
  /** 400/404: the broker refused the question (an unknown pacticipant or environment). */
  | 'refused'
  /** An answer that is not the documented JSON. */
  | 'bad_answer';

export interface ContractVerdict {
  /**
   * `yes`: every required verification is published and passed. `no`: one failed, or a version
   * asked about was never published. `unknown`: a pact is not verified yet, or the broker could
   * not be asked (`problem` says how). Never `yes` without the broker's word.
   */
  verdict: 'yes' | 'no' | 'unknown';
  /** For people (the card, the alert): the broker's reason, or what went wrong asking it. */
  reason: string;
  problem?: ContractCheckProblem;
  /** The matrix rows that were not a passed verification, for the card's detail. */
  blocking?: readonly ContractRow[];
}

/** One pact between two versions and whether the provider version verified it. */
export interface ContractRow {
  consumer: PacticipantVersion;
  /** The provider version that verified (or not) the pact; undefined: none has. */
  provider: { pacticipant: string; version?: string };
  /** true passed, false failed, undefined never verified by that provider version. */
  success?: boolean;
}

export interface ContractChecks {
  /**
   * The broker's verdict on `query`. Never rejects: a broker that cannot be asked, or answers
   * something else than the documented response, is an `unknown` verdict with the reason (and a
   * `problem`), so a caller holds rather than passes. Read-only and safe to repeat; the answer may
   * change as verifications are published, so callers ask again rather than cache.
   */
  canIDeploy(query: CanIDeployQuery): Promise<ContractVerdict>;
}

/** How a query is named to people: `checkout@3.1.0 → production`, `checkout@3.1.0 ↔ payments@2.0.0`. */
export function describeQuery(query: CanIDeployQuery): string {
  const self = `${query.pacticipant}@${query.version}`;
  return 'environment' in query.to
    ? `${self} → ${query.to.environment}`
    : `${self} ↔ ${query.to.pacticipant}@${query.to.version}`;
}
