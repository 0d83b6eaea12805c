/**
 * TLS through the Kafka adapter for real: no Kafka broker here speaks TLS, so a Node TLS server
 * with a throwaway CA stands where the broker would be. A client that trusts the CA completes the
 * handshake and sends its first Kafka request (ApiVersions) over it; one that trusts another CA
 * is refused by its own certificate check, with an error that names KAFKA_SSL_CA.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRolloutError } from '../errors.js';
import { makeTestCa, type TestCa } from '../../test/support/test-ca.js';
import { KafkaTopicBroker } from './kafka-topic-broker.js';

/** Kafka's ApiVersions request key: the first request every client sends on a connection. */
const API_VERSIONS = 18;

describe('KafkaTopicBroker over TLS', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let server: Server;
  let port: number;
  const requests: number[] = [];

  beforeAll(async () => {
    [ca, otherCa] = await Promise.all([makeTestCa('kafka-ca'), makeTestCa('other-ca')]);
    server = createServer({ key: ca.serverKey, cert: ca.serverCert }, (socket: TLSSocket) => {
      socket.once('data', (data: Buffer) => {
        // size (int32), then api key (int16)
        if (data.length >= 6) requests.push(data.readInt16BE(4));
        socket.destroy();
      });
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }, 30_000);
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await Promise.all([ca?.remove(), otherCa?.remove()]);
  });

  const broker = (caPem: string) =>
    new KafkaTopicBroker({
      clientId: 'tls-test',
      brokers: [`127.0.0.1:${port}`],
      tls: { ca: [caPem] },
      connectionTimeoutMs: 2_000,
      requestTimeoutMs: 2_000,
      retry: { initialRetryTimeMs: 50, maxRetryTimeMs: 100, retries: 0 },
    });

  it('completes the handshake with the CA that signed the broker and sends Kafka requests over it', async () => {
    const client = broker(ca.caPem);
    // The stand-in never answers, so the request itself fails; the handshake is what is checked.
    await client.ping().catch(() => undefined);
    await client.close();
    expect(requests).toContain(API_VERSIONS);
  });

  it('refuses a broker whose certificate another CA signed, naming KAFKA_SSL_CA', async () => {
    const before = requests.length;
    const client = broker(otherCa.caPem);
    const err = await client.ping().then(
      () => undefined,
      (e: unknown) => e,
    );
    await client.close();
    expect(isRolloutError(err, 'kafka_tls')).toBe(true);
    expect((err as Error).message).toMatch(/certificate does not verify.*KAFKA_SSL_CA/);
    expect(requests).toHaveLength(before); // nothing was sent to a broker it could not trust
  });
});
