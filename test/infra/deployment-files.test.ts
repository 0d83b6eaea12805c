/**
 * The deployment files cannot run here (no Docker engine, no cluster), so this suite reads them
 * as their tools would and checks what would break first: images and build targets that exist,
 * ports that match, every environment variable known to the process that receives it (and a
 * valid value), files that exist, the policy in the ConfigMap valid for the drivers configured,
 * topics named as the code names them, and an agent Role that grants nothing beyond get and
 * patch on httproutes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentMainEnv } from '../../agent/main.js';
import { readImports } from '../../scripts/check-imports.js';
import { BotEnv, parseEnv } from '../../shared/config/env.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { Policy } from '../../shared/config/policy.js';
import { commandTopic, DLQ_TOPIC, EVENTS_TOPIC } from '../../shared/contracts/topics.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const exists = (path: string) => existsSync(join(ROOT, path));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed YAML, checked field by field below

const dockerfile = read('infra/docker/Dockerfile');
const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({
  image: m[1]!,
  name: m[2],
}));
const compose = parse(read('docker-compose.yml')) as { services: Record<string, Json> };
const manifests: Json[] = (
  parse(read('infra/k8s/kustomization.yaml')) as { resources: string[] }
).resources.flatMap((file) =>
  parseAllDocuments(read(`infra/k8s/${file}`)).map((doc) => doc.toJS() as Json),
);
const examplePolicy = parsePolicy(read('config/policy.yaml'), 'config/policy.yaml');

const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
const named = (kind: string, name: string) => byKind(kind).find((m) => m.metadata.name === name);

/** The schema a process parses its environment with. */
function schemaOf(command: string) {
  if (command.includes('bot/main')) return BotEnv;
  if (command.includes('agent/main')) return AgentMainEnv;
  throw new Error(`no environment schema for ${command}`);
}

/** The command an image target runs (the Dockerfile's CMD of that stage). */
function commandOfTarget(target: string): string {
  const section = dockerfile.split(/^FROM /m).find((s) => new RegExp(`AS\\s+${target}\\b`).test(s));
  const cmd = section?.match(/^CMD\s+(\[.*\])$/m)?.[1];
  if (!cmd) throw new Error(`Dockerfile target ${target} has no CMD`);
  return (JSON.parse(cmd) as string[]).join(' ');
}

/** The Dockerfile stages a target is built from, itself first (`bot` → `runtime`). */
function stageChain(target: string): string[] {
  const chain: string[] = [];
  for (let name: string | undefined = target; name;) {
    chain.push(name);
    name = stages.find((s) => s.name === name)?.image;
  }
  return chain;
}

/** The `dist/<folder>` folders copied from the build stage into a target or a stage it builds on. */
function distFoldersOfTarget(target: string): string[] {
  const chain = stageChain(target);
  return dockerfile
    .split(/^FROM /m)
    .filter((section) => chain.some((name) => new RegExp(`AS\\s+${name}\\b`).test(section)))
    .flatMap((section) => [...section.matchAll(/^COPY --from=build \/app\/dist\/(\w+)\s/gm)])
    .map((m) => m[1]!);
}

/** Every file `entry` imports, directly or not (tests do not ship and are not followed). */
function closure(graph: Record<string, string[]>, entry: string): string[] {
  const seen = new Set<string>([entry]);
  for (const file of seen) {
    for (const dep of graph[file] ?? []) if (!dep.endsWith('.test.ts')) seen.add(dep);
  }
  return [...seen];
}

describe('infra/docker/Dockerfile', () => {
  it('is multi-stage: builds with npm ci and npm run build, ships dist/ without dev dependencies', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(
      stages.every(
        (s) => /^node:20[-.\w]*$/.test(s.image) || stages.some((t) => t.name === s.image),
      ),
    ).toBe(true);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm run build/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.build.json', 'config']) {
      expect(exists(path), path).toBe(true);
    }
  });

  it('runs as the unprivileged node user, each target the compiled entry point of its source', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
    for (const [target, source] of [
      ['bot', 'bot/main.ts'],
      ['agent', 'agent/main.ts'],
    ] as const) {
      expect(commandOfTarget(target)).toBe(`node dist/${source.replace(/\.ts$/, '.js')}`);
      expect(exists(source), source).toBe(true);
    }
    // tsconfig.build.json compiles bot/, agent/ and shared/ into dist/ under the same paths.
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    expect(build.include).toEqual(expect.arrayContaining(['bot', 'agent', 'shared']));
  });

  it('ships neither local mode, its console nor test code in the bot and agent images', async () => {
    // Not in the build context, not copied, not compiled.
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(['local', 'test']));
    const sources = [...dockerfile.matchAll(/^COPY\s+(?:--\S+\s+)*(.+)\s+\S+$/gm)].flatMap((m) =>
      m[1]!.split(/\s+/),
    );
    expect(sources.filter((s) => /(^|\/)(local|test)(\/|$)/.test(s))).toEqual([]);
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] };
    expect(build.include).not.toContain('local');
    expect(build.include).not.toContain('test');
    expect(dockerfile).not.toMatch(/local\/main|npm start/);

    // Each target holds dist/shared and its own folder, and its entry point needs nothing else.
    const { graph } = await readImports(ROOT.replace(/\/$/, ''));
    for (const target of ['bot', 'agent']) {
      const folders = distFoldersOfTarget(target);
      expect(folders.sort(), target).toEqual(['shared', target].sort());
      const needed = closure(graph, `${target}/main.ts`);
      expect(needed.length, `${target}/main.ts imports`).toBeGreaterThan(10);
      const outside = needed.filter((file) => !folders.includes(file.split('/')[0]!));
      expect(outside, `${target}/main.ts needs files its image lacks`).toEqual([]);
    }
  }, 60_000);
});

describe('docker-compose.yml', () => {
  const services = compose.services;
  const apps = Object.entries(services).filter(([, s]) => s.build !== undefined);

  it('has Kafka in KRaft mode, Redis, the topic job, the bot and an agent per cluster of the policy', () => {
    const kafka = services.kafka!;
    expect(kafka.image).toMatch(/^apache\/kafka:\d/);
    expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(Object.keys(kafka.environment).some((k) => k.includes('ZOOKEEPER'))).toBe(false);
    expect(services.redis!.image).toMatch(/^redis:\d/);
    expect(services.bot).toBeDefined();
    const clusters = apps
      .filter(([, s]) => s.build.target === 'agent')
      .map(([, s]) => s.environment.AGENT_CLUSTER as string);
    expect(clusters.sort()).toEqual(Object.keys(examplePolicy.clusters).sort());
  });

  it('pins every image to a tag, and builds from a Dockerfile target that exists', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      if (service.build === undefined) continue;
      expect(exists(join(service.build.context, service.build.dockerfile)), name).toBe(true);
      expect(stages.map((s) => s.name)).toContain(service.build.target);
      expect(service.image).toBe(`rollout-chatops-${service.build.target}:0.1.0`);
    }
  });

  it('gives the bot and agents only variables their process knows, with valid values', () => {
    for (const [name, service] of apps) {
      const schema = schemaOf(commandOfTarget(service.build.target));
      const env = Object.fromEntries(
        Object.entries(service.environment as Record<string, unknown>).map(([k, v]) => [
          k,
          // `${VAR:-}` is the host's value or empty, which the process takes as unset.
          String(v).replace(/^\$\{\w+:-([^}]*)\}$/, '$1'),
        ]),
      );
      for (const variable of Object.keys(env)) {
        expect(Object.keys(schema.shape), `${name}: ${variable}`).toContain(variable);
      }
      expect(() => parseEnv(schema, env), name).not.toThrow();
    }
  });

  it('points the apps at the Kafka and Redis services, on the ports those listen on', () => {
    const advertised = services.kafka!.environment.KAFKA_ADVERTISED_LISTENERS as string;
    for (const [name, service] of apps) {
      expect(advertised, name).toContain(`//${service.environment.KAFKA_BROKERS}`);
      const redis = service.environment.REDIS_URL as string | undefined;
      if (redis !== undefined) expect(redis, name).toBe('redis://redis:6379');
      expect(service.depends_on['kafka-init'].condition).toBe('service_completed_successfully');
    }
  });

  it('publishes the bot on its PORT, and mounts files that exist', () => {
    const bot = services.bot!;
    expect(bot.ports).toEqual([`${bot.environment.PORT}:${bot.environment.PORT}`]);
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const [host, container] = volume.split(':');
        if (!host!.startsWith('.')) continue;
        expect(exists(host!), `${name}: ${host}`).toBe(true);
        if (container === service.environment?.ROLLOUT_CONFIG) {
          expect(() => parsePolicy(read(host!), host!)).not.toThrow();
        }
      }
    }
  });

  it('creates the topics of every cluster of the policy at start', () => {
    const init = services['kafka-init']!;
    expect(init.entrypoint).toEqual(['bash', '/create-topics.sh']);
    expect(init.volumes).toContain('./infra/kafka/create-topics.sh:/create-topics.sh:ro');
    expect([...init.command].sort()).toEqual(Object.keys(examplePolicy.clusters).sort());
  });
});

describe('infra/k8s manifests', () => {
  const deployments = byKind('Deployment');
  const bot = named('Deployment', 'rollout-bot')!;
  const agent = named('Deployment', 'rollout-agent')!;
  const container = (d: Json) => d.spec.template.spec.containers[0] as Json;
  const envOf = (d: Json) => container(d).env as Json[];
  const policyMap = named('ConfigMap', 'rollout-policy')!;
  const policy: Policy = parsePolicy(policyMap.data['policy.yaml'], 'rollout-policy ConfigMap');

  it('has a Deployment and a ServiceAccount for the bot and the agent', () => {
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'rollout-agent',
      'rollout-bot',
    ]);
    for (const d of deployments) {
      expect(
        named('ServiceAccount', d.spec.template.spec.serviceAccountName),
        d.metadata.name,
      ).toBeDefined();
    }
  });

  it('runs images of the Dockerfile targets, as non-root, with probes on the container port', () => {
    for (const d of deployments) {
      const c = container(d);
      const target = c.image.match(/^rollout-chatops-(\w+):[\w.-]+$/)?.[1];
      expect(
        stages.map((s) => s.name),
        d.metadata.name,
      ).toContain(target);
      expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      const port = envOf(d).find((e) => e.name === 'PORT')?.value;
      expect(c.ports).toEqual([{ name: 'http', containerPort: Number(port) }]);
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(d.spec.selector.matchLabels).toEqual(
        expect.objectContaining({ 'app.kubernetes.io/name': d.metadata.name }),
      );
    }
  });

  it('sets only variables the process knows, with valid values, and secrets that exist', () => {
    const secret = named('Secret', 'rollout-slack')!;
    for (const d of deployments) {
      const schema = schemaOf(
        commandOfTarget(container(d).image.match(/rollout-chatops-(\w+)/)[1]),
      );
      const plain: Record<string, string> = {};
      for (const entry of envOf(d)) {
        expect(Object.keys(schema.shape), `${d.metadata.name}: ${entry.name}`).toContain(
          entry.name,
        );
        const ref = entry.valueFrom?.secretKeyRef;
        if (ref) {
          expect(ref.name).toBe('rollout-slack');
          if (!ref.optional) expect(Object.keys(secret.stringData)).toContain(ref.key);
          if (ref.key in secret.stringData) plain[entry.name] = secret.stringData[ref.key];
        } else {
          plain[entry.name] = String(entry.value);
        }
      }
      expect(() => parseEnv(schema, plain), d.metadata.name).not.toThrow();
    }
  });

  it('mounts the policy ConfigMap where ROLLOUT_CONFIG points, and the policy is valid for the agent’s drivers', () => {
    for (const d of deployments) {
      const config = envOf(d).find((e) => e.name === 'ROLLOUT_CONFIG')!.value as string;
      const mount = container(d).volumeMounts.find((m: Json) =>
        config.startsWith(`${m.mountPath}/`),
      );
      const volume = d.spec.template.spec.volumes.find((v: Json) => v.name === mount.name);
      expect(volume.configMap.name).toBe('rollout-policy');
      expect(Object.keys(policyMap.data)).toContain(config.slice(mount.mountPath.length + 1));
    }
    const agentEnv = Object.fromEntries(envOf(agent).map((e) => [e.name, e.value]));
    expect(Object.keys(policy.clusters)).toContain(agentEnv.AGENT_CLUSTER);
    expect(agentEnv.TRAFFIC_ROUTER).toBe('gateway-api');
    for (const [name, service] of Object.entries(policy.services)) {
      if (service.clusters.includes(agentEnv.AGENT_CLUSTER)) {
        expect(service.routing, `services.${name}.routing`).toBeDefined();
      }
    }
  });

  it('grants the agent get and patch on httproutes in each namespace it manages, and nothing else', () => {
    expect(byKind('ClusterRole')).toEqual([]);
    expect(byKind('ClusterRoleBinding')).toEqual([]);
    const roles = byKind('Role');
    for (const role of roles) {
      expect(role.rules).toEqual([
        {
          apiGroups: ['gateway.networking.k8s.io'],
          resources: ['httproutes'],
          verbs: ['get', 'patch'],
        },
      ]);
    }
    const managed = new Set(
      Object.values(policy.services).flatMap((s) => s.routing?.namespace ?? []),
    );
    expect(new Set(roles.map((r) => r.metadata.namespace))).toEqual(managed);
    const account = agent.spec.template.spec.serviceAccountName;
    for (const binding of byKind('RoleBinding')) {
      expect(roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toContain(
        `${binding.metadata.namespace}/${binding.roleRef.name}`,
      );
      expect(binding.roleRef.kind).toBe('Role');
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: account, namespace: agent.metadata.namespace },
      ]);
    }
    // The bot needs no Kubernetes API: no token mounted, nothing bound to its account.
    expect(bot.spec.template.spec.automountServiceAccountToken).toBe(false);
  });
});

describe('infra/kafka/create-topics.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rollout-topics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates each cluster’s command topic, the events topic and the DLQ, idempotently', () => {
    // A stand-in kafka-topics.sh that records its arguments.
    const stub = join(dir, 'kafka-topics.sh');
    const log = join(dir, 'calls');
    writeFileSync(stub, `#!/usr/bin/env bash\necho "$*" >> ${JSON.stringify(log)}\n`);
    chmodSync(stub, 0o755);
    execFileSync('bash', [join(ROOT, 'infra/kafka/create-topics.sh'), 'eu-west', 'us-east'], {
      env: {
        ...process.env,
        KAFKA_TOPICS_BIN: stub,
        KAFKA_BOOTSTRAP: 'kafka:9092',
        REPLICATION_FACTOR: '1',
      },
      stdio: 'pipe',
    });
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    const topics = calls.map((c) => c.match(/--topic (\S+)/)?.[1]);
    expect(topics).toEqual([
      commandTopic('eu-west'),
      commandTopic('us-east'),
      EVENTS_TOPIC,
      DLQ_TOPIC,
    ]);
    for (const call of calls) {
      expect(call).toContain('--bootstrap-server kafka:9092 --create --if-not-exists');
      expect(call).toMatch(/--partitions \d+ --replication-factor 1/);
      expect(call).toMatch(/--config retention\.ms=\d+/);
    }
  });

  it('refuses a cluster name that is not a topic-safe name', () => {
    const run = spawnSync('bash', [join(ROOT, 'infra/kafka/create-topics.sh'), 'EU West'], {
      env: { ...process.env, KAFKA_TOPICS_BIN: '/bin/false' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('invalid cluster name');
  });
});

describe('infra/prometheus', () => {
  it('scrapes the compose services on the ports they serve /metrics on (promtool agrees)', () => {
    const config = parse(read('infra/prometheus/prometheus-compose.yml')) as Json;
    const targets = config.scrape_configs.flatMap((job: Json) =>
      job.static_configs.flatMap((s: Json) => s.targets as string[]),
    );
    const expected = Object.entries(compose.services)
      .filter(([, s]) => s.build !== undefined)
      .map(([name, s]) => `${name}:${s.environment.PORT}`);
    expect(targets.sort()).toEqual(expected.sort());
    const promtool = spawnSync(
      'promtool',
      ['check', 'config', join(ROOT, 'infra/prometheus/prometheus-compose.yml')],
      {
        encoding: 'utf8',
      },
    );
    if (promtool.error === undefined)
      expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0);
  });

  it('keeps in Kubernetes exactly the pods of the manifests, on their `http` port', () => {
    const config = parse(read('infra/prometheus/prometheus-kubernetes.yml')) as Json;
    const job = config.scrape_configs[0];
    expect(job.metrics_path).toBe('/metrics');
    expect(job.kubernetes_sd_configs[0].namespaces.names).toEqual(['rollouts']);
    const keep = Object.fromEntries(
      job.relabel_configs
        .filter((r: Json) => r.action === 'keep')
        .map((r: Json) => [r.source_labels[0], r.regex]),
    );
    expect(keep).toEqual({
      __meta_kubernetes_pod_label_app_kubernetes_io_part_of: 'rollout-chatops',
      __meta_kubernetes_pod_container_port_name: 'http',
    });
    for (const d of byKind('Deployment')) {
      expect(d.metadata.namespace).toBe('rollouts');
      expect(d.spec.template.metadata.labels['app.kubernetes.io/part-of']).toBe('rollout-chatops');
    }
  });
});
