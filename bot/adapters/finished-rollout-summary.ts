import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { CorruptRecordError, type HistoryEntry } from '../../shared/ports/rollout-store.js';
import { RolloutState, RolloutStatus } from '../../shared/rollout/state.js';

/** A history entry as stored: what `RolloutStore.history` returns, checked on the way out. */
export const StoredHistoryEntry = z.object({
  at: z.number(),
  version: z.number().int(),
  actor: z.string(),
  input: z.string(),
  status: RolloutStatus,
  detail: z.string().optional(),
});

/** A finished rollout folded into one record: its last state and its whole audit trail. */
export interface FinishedRolloutSummary {
  state: RolloutState;
  history: HistoryEntry[];
}

const Summary = z.object({ state: RolloutState, history: z.array(StoredHistoryEntry) });

/**
 * The summary as bytes: its JSON, deflated. A finished rollout's state and history repeat
 * themselves (cluster names, stage gates, one line per cluster per stage), so 10 clusters' 11 KB
 * of JSON become about 1.5 KB; the format byte lets a later encoding sit beside this one.
 */
const FORMAT_DEFLATED_JSON = 1;

export function encodeSummary(summary: FinishedRolloutSummary): Buffer {
  const json = Buffer.from(JSON.stringify(summary));
  return Buffer.concat([Buffer.from([FORMAT_DEFLATED_JSON]), deflateRawSync(json, { level: 9 })]);
}

/** Reads a summary back; anything unreadable is a `CorruptRecordError` naming `key`. */
export function decodeSummary(key: string, bytes: Buffer): FinishedRolloutSummary {
  if (bytes[0] !== FORMAT_DEFLATED_JSON) {
    throw new CorruptRecordError(key, `unknown summary format ${String(bytes[0])}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(inflateRawSync(bytes.subarray(1)).toString('utf8'));
  } catch (err) {
    throw new CorruptRecordError(key, `not a deflated JSON summary (${(err as Error).message})`);
  }
  const result = Summary.safeParse(value);
  if (!result.success) throw new CorruptRecordError(key, z.prettifyError(result.error));
  return result.data as FinishedRolloutSummary;
}
