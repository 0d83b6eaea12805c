import type { TopicMessages } from 'kafkajs';

export interface OutgoingRecord {
  topic: string;
  key: string | null;
  value: Buffer | string;
}

/** Records in one send at most, and bytes of values: well under Kafka's 1 MB request default. */
const MAX_RECORDS = 500;
const MAX_BYTES = 512 * 1024;

interface Queued extends OutgoingRecord {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers records into sends: whatever is added while a send is on its way (or in the same turn
 * of the event loop as the first) goes out in the next one, in the order it was added, so records
 * of one key keep their order. One send at a time, as the producer allows one request in flight.
 * Each `add` resolves when its send was acknowledged and rejects with that send's error.
 */
export class ProduceBatcher {
  private queue: Queued[] = [];
  private sending: Promise<void> | undefined;
  private sent = 0;

  constructor(private readonly send: (batch: TopicMessages[]) => Promise<void>) {}

  add(record: OutgoingRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...record, resolve, reject });
      // setImmediate: records added in the same turn (a page of the outbox) share the first send.
      this.sending ??= new Promise<void>((started) => setImmediate(started)).then(() =>
        this.loop(),
      );
    });
  }

  /** Sends made so far. */
  get sends(): number {
    return this.sent;
  }

  /** Resolves once everything added has been sent (or failed). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async loop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.take();
      this.sent++;
      try {
        await this.send(byTopic(batch));
        for (const record of batch) record.resolve();
      } catch (err) {
        for (const record of batch) record.reject(err);
      }
    }
    // No await between the emptiness check and this: an add() either came before (and was sent)
    // or comes after and starts a new loop.
    this.sending = undefined;
  }

  private take(): Queued[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_RECORDS) {
      const size = Buffer.byteLength(this.queue[n]!.value);
      if (n > 0 && bytes + size > MAX_BYTES) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }
}

/** Records grouped per topic, each topic's in the order they were added. */
function byTopic(batch: readonly OutgoingRecord[]): TopicMessages[] {
  const topics = new Map<string, TopicMessages>();
  for (const { topic, key, value } of batch) {
    let entry = topics.get(topic);
    if (!entry) topics.set(topic, (entry = { topic, messages: [] }));
    entry.messages.push({ key, value });
  }
  return [...topics.values()];
}
