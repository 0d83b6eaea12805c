import { buildKafkaBroker } from './kafka-broker.js';

/** Builds what the suites need before any runs (the Kafka test broker, when it is stale). */
export default async function setup(): Promise<void> {
  await buildKafkaBroker();
}
