import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the Pact Broker's HTTP API, built from its documented behaviour (the pact_broker
 * matrix resources and `DeploymentStatusSummary`). It stores what CI would have published —
 * pacticipant versions, pacts (by content, so a new consumer version with an unchanged pact is
 * already verified, as in the broker), verification results, environments and deployments — and
 * computes each answer from them:
 *
 * - `GET /can-i-deploy?pacticipant=&version=&environment=`: the version against every version
 *   currently deployed in the environment, both as consumer (its pacts with the providers deployed
 *   there) and as provider (the pacts of the consumers deployed there);
 * - `GET /matrix?q[][pacticipant]=A&q[][version]=a&q[][pacticipant]=B&q[][version]=b&latestby=cvpv`:
 *   the two versions against each other, both ways.
 *
 * Answers: `200 { summary: { deployable, reason, success, failed, unknown }, notices, matrix }`
 * where `deployable` is false when a version asked about was never published, null when a pact
 * is not verified by the version it meets (even beside a failure, as the broker does), else
 * whether every verification passed (true with no rows). Missing or contradictory parameters,
 * an unknown pacticipant or environment: `400 { errors: { <param>: [message] } }`. With a token,
 * a request without `Authorization: Bearer <token>` gets `401`. Faults: `failNext(n)` answers
 * 500, `garbleNext(n)` a 200 HTML page, `stallNext(n)` never answers (until `stop`).
 */
export class PactBrokerDouble {
  /** Every request, with what it was answered. */
  readonly requests: { path: string; status: number; authorization: string | undefined }[] = [];
  /** The base URL to give as `PACT_BROKER_URL`. */
  url = '';
  private server: Server | undefined;
  private readonly versions = new Map<string, Set<string>>();
  /** `consumer@version→provider` → the pact's content. */
  private readonly pacts = new Map<string, string>();
  /** `consumer→provider#content@providerVersion` → success. */
  private readonly verifications = new Map<string, boolean>();
  /** environment → pacticipant → the version currently deployed. */
  private readonly deployed = new Map<string, Map<string, string>>();
  private failing = 0;
  private garbling = 0;
  private stalling = 0;
  private readonly stalled = new Set<ServerResponse>();

  constructor(private readonly options: { token?: string } = {}) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  /** A version of a pacticipant exists (created by publishing anything, or a deployment). */
  createVersion(pacticipant: string, version: string): this {
    let versions = this.versions.get(pacticipant);
    if (versions === undefined) this.versions.set(pacticipant, (versions = new Set()));
    versions.add(version);
    return this;
  }

  /** `consumer@version` published its pact with `provider`; equal `content` is the same pact. */
  publishPact(consumer: string, version: string, provider: string, content = 'v1'): this {
    this.createVersion(consumer, version);
    if (!this.versions.has(provider)) this.versions.set(provider, new Set());
    this.pacts.set(`${consumer}@${version}→${provider}`, content);
    return this;
  }

  /** `provider@version` verified the pact `consumer@consumerVersion` published with it. */
  publishVerification(
    provider: string,
    version: string,
    consumer: string,
    consumerVersion: string,
    success: boolean,
  ): this {
    const content = this.pacts.get(`${consumer}@${consumerVersion}→${provider}`);
    if (content === undefined)
      throw new Error(`no pact ${consumer}@${consumerVersion}→${provider}`);
    this.createVersion(provider, version);
    this.verifications.set(`${consumer}→${provider}#${content}@${version}`, success);
    return this;
  }

  createEnvironment(name: string): this {
    if (!this.deployed.has(name)) this.deployed.set(name, new Map());
    return this;
  }

  /** `record-deployment`: the version now runs in the environment, replacing the one before. */
  recordDeployment(pacticipant: string, version: string, environment: string): this {
    this.createVersion(pacticipant, version);
    this.createEnvironment(environment);
    this.deployed.get(environment)!.set(pacticipant, version);
    return this;
  }

  failNext(requests: number): void {
    this.failing = requests;
  }

  garbleNext(requests: number): void {
    this.garbling = requests;
  }

  stallNext(requests: number): void {
    this.stalling = requests;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const authorization = req.headers.authorization;
    const answer = (status: number, body: unknown, type = 'application/hal+json'): void => {
      this.requests.push({ path: req.url ?? '', status, authorization });
      res.writeHead(status, {
        'content-type': type,
        ...(status === 401 && { 'www-authenticate': 'Bearer realm="Pact Broker"' }),
      });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (this.options.token !== undefined && authorization !== `Bearer ${this.options.token}`) {
      return answer(401, { error: 'Unauthorized' });
    }
    if (this.stalling > 0) {
      this.stalling--;
      this.stalled.add(res);
      return;
    }
    if (this.failing > 0) {
      this.failing--;
      return answer(500, { error: { message: 'An error has occurred' } });
    }
    if (this.garbling > 0) {
      this.garbling--;
      return answer(200, '<html><body>Bad gateway</body></html>', 'text/html');
    }
    const url = new URL(req.url ?? '/', 'http://broker');
    if (req.method !== 'GET') return answer(405, { error: 'Method not allowed' });
    if (url.pathname === '/can-i-deploy') return this.canIDeploy(url.searchParams, answer);
    if (url.pathname === '/matrix') return this.matrix(url.searchParams, answer);
    return answer(404, { error: `No route ${url.pathname}` });
  }

  private canIDeploy(params: URLSearchParams, answer: (s: number, b: unknown) => void): void {
    const pacticipant = params.get('pacticipant') ?? '';
    const version = params.get('version') ?? '';
    const environment = params.get('environment') ?? '';
    const to = params.get('to') ?? '';
    const errors: Record<string, string[]> = {};
    if (pacticipant === '') errors.pacticipant = ['is missing'];
    else if (!this.versions.has(pacticipant))
      errors.pacticipant = [`Pacticipant with name '${pacticipant}' not found`];
    if (version === '') errors.version = ['is missing'];
    if (environment === '' && to === '')
      errors.to = ['Must specify either an environment or a tag'];
    if (environment !== '' && to !== '')
      errors.to = ['Cannot specify both a tag and an environment'];
    if (environment !== '' && !this.deployed.has(environment))
      errors.environment = [`Environment with name '${environment}' does not exist`];
    if (to !== '') errors.to ??= ['This double models environments only, not tags'];
    if (Object.keys(errors).length > 0) return answer(400, { errors });

    const self = { pacticipant, version, description: `version ${version} of ${pacticipant}` };
    if (!this.versions.get(pacticipant)!.has(version)) {
      return answer(200, summary(false, [notPublished(pacticipant, version)], []));
    }
    const inEnvironment = this.deployed.get(environment)!;
    const other = (name: string) => {
      const deployedVersion = inEnvironment.get(name);
      return deployedVersion === undefined
        ? {
            pacticipant: name,
            description: `a version of ${name} currently deployed to ${environment}`,
          }
        : {
            pacticipant: name,
            version: deployedVersion,
            description: `the version of ${name} currently deployed to ${environment} (${deployedVersion})`,
          };
    };
    const rows: Row[] = [];
    for (const [key] of this.pacts) {
      const { consumer, consumerVersion, provider } = parseKey(key);
      if (consumer === pacticipant && consumerVersion === version) {
        rows.push(this.row(self, other(provider)));
      } else if (provider === pacticipant && inEnvironment.get(consumer) === consumerVersion) {
        rows.push(
          this.row(
            {
              pacticipant: consumer,
              version: consumerVersion,
              description: `the version of ${consumer} currently deployed to ${environment} (${consumerVersion})`,
            },
            self,
          ),
        );
      }
    }
    answer(200, summary(true, [], rows));
  }

  private matrix(params: URLSearchParams, answer: (s: number, b: unknown) => void): void {
    const names = params.getAll('q[][pacticipant]');
    const versions = params.getAll('q[][version]');
    if (names.length === 0) {
      return answer(400, { errors: { q: ['Please provide 1 or more version selectors.'] } });
    }
    if (versions.length !== names.length || names.some((n) => n === '')) {
      return answer(400, {
        errors: { q: ['Please specify the pacticipant name and version of each selector'] },
      });
    }
    const unknown = names.filter((n) => !this.versions.has(n));
    if (unknown.length > 0) {
      return answer(400, {
        errors: { q: unknown.map((n) => `Pacticipant with name '${n}' not found`) },
      });
    }
    const selectors = names.map((pacticipant, i) => ({
      pacticipant,
      version: versions[i]!,
      description: `version ${versions[i]} of ${pacticipant}`,
    }));
    const missing = selectors.filter((s) => !this.versions.get(s.pacticipant)!.has(s.version));
    if (missing.length > 0) {
      return answer(
        200,
        summary(
          false,
          missing.map((s) => notPublished(s.pacticipant, s.version)),
          [],
        ),
      );
    }
    const rows: Row[] = [];
    for (const consumer of selectors) {
      for (const provider of selectors) {
        if (consumer === provider) continue;
        if (this.pacts.has(`${consumer.pacticipant}@${consumer.version}→${provider.pacticipant}`)) {
          rows.push(this.row(consumer, provider));
        }
      }
    }
    answer(200, summary(true, [], rows));
  }

  private row(consumer: Selector & { version: string }, provider: Selector): Row {
    const content = this.pacts.get(
      `${consumer.pacticipant}@${consumer.version}→${provider.pacticipant}`,
    )!;
    const success =
      provider.version === undefined
        ? undefined
        : this.verifications.get(
            `${consumer.pacticipant}→${provider.pacticipant}#${content}@${provider.version}`,
          );
    return { consumer, provider, success };
  }
}

interface Selector {
  pacticipant: string;
  version?: string;
  description: string;
}

interface Row {
  consumer: Selector & { version: string };
  provider: Selector;
  success: boolean | undefined;
}

function parseKey(key: string): { consumer: string; consumerVersion: string; provider: string } {
  const [left, provider] = key.split('→') as [string, string];
  const at = left.lastIndexOf('@');
  return { consumer: left.slice(0, at), consumerVersion: left.slice(at + 1), provider };
}

function notPublished(pacticipant: string, version: string): string {
  return `No pacts or verifications have been published for version ${version} of ${pacticipant}`;
}

/** The broker's summary and matrix for `rows` (see `DeploymentStatusSummary`). */
function summary(versionsExist: boolean, missing: string[], rows: Row[]): unknown {
  const unverified = rows.filter((r) => r.success === undefined);
  const failed = rows.filter((r) => r.success === false);
  const deployable = !versionsExist ? false : unverified.length > 0 ? null : failed.length === 0;
  const reasons =
    missing.length > 0
      ? missing
      : failed.length + unverified.length > 0
        ? [
            ...failed.map(
              (r) =>
                `The verification for the pact between ${r.consumer.description} and ${r.provider.description} failed`,
            ),
            ...unverified.map(
              (r) =>
                `There is no verified pact between ${r.consumer.description} and ${r.provider.description}`,
            ),
          ]
        : [
            rows.length > 0
              ? 'All required verification results are published and successful'
              : 'There are no missing dependencies',
          ];
  return {
    summary: {
      deployable,
      reason: reasons.join('\n'),
      success: rows.filter((r) => r.success === true).length,
      failed: failed.length,
      unknown: unverified.length,
    },
    notices: reasons.map((text) => ({ type: deployable === true ? 'success' : 'error', text })),
    matrix: rows.map((r) => ({
      consumer: { name: r.consumer.pacticipant, version: { number: r.consumer.version } },
      provider: {
        name: r.provider.pacticipant,
        version: r.provider.version === undefined ? null : { number: r.provider.version },
      },
      pact: { createdAt: '2026-11-30T12:00:00+00:00' },
      verificationResult:
        r.success === undefined
          ? null
          : { success: r.success, verifiedAt: '2026-11-30T12:05:00+00:00' },
    })),
  };
}
