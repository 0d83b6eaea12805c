import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook target for tests: a small HTTP server that records each call's JSON body and answers
 * with what the test set (status, body, an optional delay). Answers can be queued for the next
 * calls; once the queue is empty it keeps answering the default.
 */

export interface WebhookAnswer {
  status: number;
  /** Sent as is when a string, as JSON otherwise; no body when undefined. */
  body?: unknown;
  /** Milliseconds to wait before answering (to make a caller time out). */
  delayMs?: number;
}

export interface WebhookServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Answer every call from now on (after any queued answers). */
  answer(answer: WebhookAnswer): void;
  /** Answer the next calls with these, in order, then fall back to the default. */
  queue(...answers: WebhookAnswer[]): void;
  /** The JSON bodies received, oldest first (path included). */
  calls(): { path: string; body: unknown }[];
  close(): Promise<void>;
}

export async function startWebhookServer(
  initial: WebhookAnswer = { status: 200, body: { ok: true } },
): Promise<WebhookServer> {
  let fallback = initial;
  const queued: WebhookAnswer[] = [];
  const received: { path: string; body: unknown }[] = [];
  const server: Server = createServer((req, res) => {
    void readBody(req).then((text) => {
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Recorded as text: the test asserts what it got.
      }
      received.push({ path: req.url ?? '/', body });
      const answer = queued.shift() ?? fallback;
      const send = () => {
        if (res.destroyed) return;
        if (answer.body === undefined) {
          res.writeHead(answer.status).end();
          return;
        }
        const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        res
          .writeHead(answer.status, {
            'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json',
          })
          .end(payload);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answer: (answer) => {
      fallback = answer;
    },
    queue: (...answers) => {
      queued.push(...answers);
    },
    calls: () => [...received],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}
