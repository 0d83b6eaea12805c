/**
 * The deployment files cannot run here (no Docker engine, no cluster), so this suite reads them
 * as their tools would and checks what would break first: images and build targets that exist,
 * ports that match, every environment variable known to the process that receives it (and a
 * valid value), files that exist, the policy in the ConfigMap valid for the drivers configured,
 * topics named as the code names them, an agent Role that grants nothing beyond get, list, watch and patch on
 * httproutes, and command signing keys that reach the bot (private) and the agents (public only).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
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
import { commandSigner, commandVerifier, kafkaSecurity } from '../../shared/config/security.js';
import {
  agentGroup,
  BOT_EVENTS_GROUP,
  BOT_HEALTH_GROUP,
  commandTopic,
  DLQ_TOPIC,
  EVENTS_TOPIC,
  HEALTH_TOPIC,
} from '../../shared/contracts/topics.js';
import { aCommand } from '../support/envelopes.js';

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

/** A compose service's environment as its process sees it. */
function composeEnv(service: Json): Record<string, string> {
  return Object.fromEntries(
    Object.entries((service.environment ?? {}) as Record<string, unknown>).map(([k, v]) => [
      k,
      // `${VAR:-}` is the host's value or empty, which the process takes as unset.
      String(v).replace(/^\$\{\w+:-([^}]*)\}$/, '$1'),
    ]),
  );
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
      const env = composeEnv(service);
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

describe('docker-compose.yml: command signing keys', () => {
  const services = compose.services;
  const volumes = (parse(read('docker-compose.yml')) as { volumes?: Record<string, unknown> })
    .volumes;
  const job = services['command-keys']!;
  const apps = Object.entries(services).filter(([, s]) => s.build !== undefined);
  const bot = services.bot!;
  const agents = apps.filter(([, s]) => s.build.target === 'agent');
  const [script, signingDir, verifyDir] = (job.command as string[]).slice(1);

  /** A service's named-volume mounts (`volume:/path[:ro]`; host paths start with . or /). */
  const namedMounts = (service: Json) =>
    ((service.volumes ?? []) as string[])
      .map((v) => v.split(':'))
      .filter(([source]) => !/^[./]/.test(source!))
      .map(([volume, path, mode]) => ({ volume: volume!, path: path!, readOnly: mode === 'ro' }));
  /** The named volume a file of `service` lies in, and its path inside that volume. */
  const volumeOf = (service: Json, file: string) => {
    const mount = namedMounts(service).find((m) => file.startsWith(`${m.path}/`));
    return mount && { ...mount, inside: file.slice(mount.path.length + 1) };
  };
  const jobVolumeAt = (dir: string) => namedMounts(job).find((m) => m.path === dir)!.volume;

  it('makes the key pair once, in a one-shot job the bot and every agent wait for', () => {
    expect(job.image).toMatch(/^node:20[-\w.]*$/);
    expect(job.command[0]).toBe('node');
    expect(job.volumes).toContain(`./infra/docker/generate-command-keys.mjs:${script}:ro`);
    expect(job.restart).toBe('no');
    // The images' `node` user (Dockerfile: USER node) is uid and gid 1000; the job hands it the files.
    expect(job.environment.KEY_OWNER).toBe('1000:1000');
    const [signing, verify] = [jobVolumeAt(signingDir!), jobVolumeAt(verifyDir!)];
    expect(signing).not.toBe(verify);
    expect(Object.keys(volumes ?? {}).sort()).toEqual([signing, verify].sort());
    for (const [name, service] of apps) {
      expect(service.depends_on['command-keys']?.condition, name).toBe(
        'service_completed_successfully',
      );
      expect(service.environment.COMMAND_SIGNING, `${name} turns signing off`).toBeUndefined();
    }
  });

  it('gives the bot the private key and the agents only the public key, read-only', () => {
    const key = volumeOf(bot, bot.environment.COMMAND_SIGNING_KEY_FILE)!;
    expect(key).toEqual({
      volume: jobVolumeAt(signingDir!),
      path: expect.any(String),
      readOnly: true,
      inside: 'command-signing.key',
    });
    expect(agents.length).toBeGreaterThan(0);
    for (const [name, agent] of agents) {
      expect(agent.environment.COMMAND_SIGNING_KEY_FILE, name).toBeUndefined();
      const pem = volumeOf(agent, agent.environment.COMMAND_VERIFY_KEY_FILE)!;
      expect(pem, name).toEqual({
        volume: jobVolumeAt(verifyDir!),
        path: expect.any(String),
        readOnly: true,
        inside: 'command-verify.pem',
      });
      const mounted = namedMounts(agent).map((m) => m.volume);
      expect(mounted, `${name} mounts the private key's volume`).not.toContain(key.volume);
    }
  });

  describe('infra/docker/generate-command-keys.mjs', () => {
    const root = mkdtempSync(join(tmpdir(), 'rollout-command-keys-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    let runs = 0;

    /** Fresh volumes, each a folder; the job's arguments and the apps' paths map onto them. */
    function volumesOnHost() {
      const dir = join(root, String(runs++));
      const onHost = (volume: string, inside = '') => join(dir, volume, inside);
      const privateFile = onHost(jobVolumeAt(signingDir!), 'command-signing.key');
      const publicFile = onHost(jobVolumeAt(verifyDir!), 'command-verify.pem');
      const runJob = () =>
        spawnSync(
          process.execPath,
          [
            join(ROOT, 'infra/docker/generate-command-keys.mjs'),
            onHost(jobVolumeAt(signingDir!)),
            onHost(jobVolumeAt(verifyDir!)),
          ],
          { encoding: 'utf8', env: { ...process.env, KEY_OWNER: '' } },
        );
      const readerOf = (service: Json) => (path: string) => {
        const at = volumeOf(service, path);
        if (!at) throw new Error(`${path} is in no volume of the service`);
        return readFileSync(onHost(at.volume, at.inside), 'utf8');
      };
      return { privateFile, publicFile, runJob, readerOf };
    }

    it('writes a pair the bot signs with and every agent verifies with', () => {
      const { privateFile, runJob, readerOf } = volumesOnHost();
      const run = runJob();
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('wrote a new signing key');
      expect(statSync(privateFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(privateFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);

      const signer = commandSigner(parseEnv(BotEnv, composeEnv(bot)), readerOf(bot))!;
      const signed = signer.sign(aCommand().setWeight(1, 25).build());
      for (const [name, agent] of agents) {
        const verifier = commandVerifier(
          parseEnv(AgentMainEnv, composeEnv(agent)),
          readerOf(agent),
        )!;
        expect(verifier.refusal(signed), name).toBeUndefined();
        expect(verifier.refusal({ ...signed, seq: signed.seq + 1 }), name).toMatch(/forged/);
      }
    });

    it('keeps both files on the next run', () => {
      const { privateFile, publicFile, runJob } = volumesOnHost();
      expect(runJob().status).toBe(0);
      const before = [privateFile, publicFile].map((f) => readFileSync(f, 'utf8'));
      const run = runJob();
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('kept the existing signing key');
      expect([privateFile, publicFile].map((f) => readFileSync(f, 'utf8'))).toEqual(before);
    });

    it('makes no private key that the public key already there would not match', () => {
      const { privateFile, runJob } = volumesOnHost();
      expect(runJob().status).toBe(0);
      rmSync(privateFile);
      const run = runJob();
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('docker compose down -v');
      expect(existsSync(privateFile)).toBe(false);
    });
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

  it('grants the agent get, list, watch and patch on httproutes in each namespace it manages, its lease in its own namespace, and nothing else', () => {
    expect(byKind('ClusterRole')).toEqual([]);
    expect(byKind('ClusterRoleBinding')).toEqual([]);
    const isLease = (r: Json) => r.metadata.name === 'rollout-agent-lease';
    const leaseRoles = byKind('Role').filter(isLease);
    expect(leaseRoles.map((r) => r.metadata.namespace)).toEqual([agent.metadata.namespace]);
    expect(leaseRoles[0]!.rules).toEqual([
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'create', 'update'],
      },
    ]);
    const roles = byKind('Role').filter((r) => !isLease(r));
    for (const role of roles) {
      expect(role.rules).toEqual([
        {
          apiGroups: ['gateway.networking.k8s.io'],
          resources: ['httproutes'],
          verbs: ['get', 'list', 'watch', 'patch'],
        },
      ]);
    }
    const managed = new Set(
      Object.values(policy.services).flatMap((s) => s.routing?.namespace ?? []),
    );
    expect(new Set(roles.map((r) => r.metadata.namespace))).toEqual(managed);
    const account = agent.spec.template.spec.serviceAccountName;
    for (const binding of byKind('RoleBinding')) {
      expect(
        [...roles, ...leaseRoles].map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
      ).toContain(`${binding.metadata.namespace}/${binding.roleRef.name}`);
      expect(binding.roleRef.kind).toBe('Role');
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: account, namespace: agent.metadata.namespace },
      ]);
    }
    // The bot needs no Kubernetes API: no token mounted, nothing bound to its account.
    expect(bot.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  describe('command signing keys', () => {
    const template = 'command-signing-keys.example.yaml';
    const templateObjects = parseAllDocuments(read(`infra/k8s/${template}`)).map(
      (doc) => doc.toJS() as Json,
    );
    const podOf = (d: Json) => d.spec.template.spec as Json;
    /** The volume a file of the Deployment's container lies in, its mount, and its path inside. */
    const volumeOf = (d: Json, file: string) => {
      const mount = (container(d).volumeMounts as Json[]).find((m) =>
        file.startsWith(`${m.mountPath}/`),
      )!;
      const volume = (podOf(d).volumes as Json[]).find((v) => v.name === mount.name)!;
      return { mount, volume, inside: file.slice(mount.mountPath.length + 1) };
    };
    const envValue = (d: Json, name: string) =>
      envOf(d).find((e) => e.name === name)?.value as string | undefined;

    it('mounts the Secret rollout-command-signing-key in the bot where COMMAND_SIGNING_KEY_FILE points, readable by its user alone', () => {
      const file = envValue(bot, 'COMMAND_SIGNING_KEY_FILE')!;
      const { mount, volume, inside } = volumeOf(bot, file);
      expect(mount.readOnly).toBe(true);
      expect(volume.secret.secretName).toBe('rollout-command-signing-key');
      expect(volume.secret.items).toEqual([{ key: 'command-signing.key', path: inside }]);
      // Root-owned files: group-readable for the bot's group (fsGroup), nothing for others.
      expect(volume.secret.defaultMode).toBe(0o440);
      const security = podOf(bot).securityContext;
      expect(security.fsGroup).toBe(security.runAsGroup);
    });

    it('gives the agent the public key from the ConfigMap rollout-command-verify-key, and never the private key', () => {
      const file = envValue(agent, 'COMMAND_VERIFY_KEY_FILE')!;
      const { mount, volume, inside } = volumeOf(agent, file);
      expect(mount.readOnly).toBe(true);
      expect(volume.configMap.name).toBe('rollout-command-verify-key');
      expect(volume.configMap.items).toEqual([{ key: 'command-verify.pem', path: inside }]);
      expect((podOf(agent).volumes as Json[]).filter((v) => v.secret !== undefined)).toEqual([]);
      const agentObjects = JSON.stringify(
        manifests.filter((m) => m.metadata.name === 'rollout-agent'),
      );
      for (const secret of ['rollout-command-signing-key', 'command-signing.key']) {
        expect(agentObjects).not.toContain(secret);
      }
      expect(envValue(agent, 'COMMAND_SIGNING_KEY_FILE')).toBeUndefined();
      for (const d of deployments)
        expect(envValue(d, 'COMMAND_SIGNING'), d.metadata.name).toBeUndefined();
    });

    it('mounts each volume beside the others, never inside another', () => {
      for (const d of deployments) {
        const paths = (container(d).volumeMounts as Json[]).map((m) => m.mountPath as string);
        for (const a of paths) {
          for (const b of paths)
            if (a !== b)
              expect(b.startsWith(`${a}/`), `${d.metadata.name}: ${b} in ${a}`).toBe(false);
        }
      }
    });

    it('keeps the keys out of the repository: a template outside kustomization, with placeholders the processes refuse', () => {
      const { resources } = parse(read('infra/k8s/kustomization.yaml')) as { resources: string[] };
      expect(resources).not.toContain(template);
      const secret = templateObjects.find((o) => o.kind === 'Secret')!;
      const configMap = templateObjects.find((o) => o.kind === 'ConfigMap')!;
      expect(secret.metadata).toMatchObject({
        name: 'rollout-command-signing-key',
        namespace: 'rollouts',
      });
      expect(configMap.metadata).toMatchObject({
        name: 'rollout-command-verify-key',
        namespace: 'rollouts',
      });
      expect(Object.keys(secret.stringData)).toEqual(['command-signing.key']);
      expect(Object.keys(configMap.data)).toEqual(['command-verify.pem']);
      // The kubectl commands the template gives create exactly these names and keys.
      const text = read(`infra/k8s/${template}`);
      expect(text).toContain('create secret generic rollout-command-signing-key');
      expect(text).toContain('--from-file=command-signing.key=');
      expect(text).toContain('create configmap rollout-command-verify-key');
      expect(text).toContain('--from-file=command-verify.pem=');
      // No key material anywhere in the deployment files.
      for (const file of [
        ...resources.map((r) => `infra/k8s/${r}`),
        `infra/k8s/${template}`,
        'docker-compose.yml',
      ]) {
        expect(read(file), file).not.toMatch(/-----BEGIN [A-Z ]*KEY-----/);
      }
      // Applied as they are, the placeholders stop the processes with the variable to fix.
      const placeholder = (text: string) => () => text;
      expect(() =>
        commandSigner(
          { COMMAND_SIGNING: 'on', COMMAND_SIGNING_KEY_FILE: '/k' },
          placeholder(secret.stringData['command-signing.key']),
        ),
      ).toThrow(/^COMMAND_SIGNING_KEY_FILE: /);
      expect(() =>
        commandVerifier(
          { COMMAND_SIGNING: 'on', COMMAND_VERIFY_KEY_FILE: '/k' },
          placeholder(configMap.data['command-verify.pem']),
        ),
      ).toThrow(/^COMMAND_VERIFY_KEY_FILE: /);
    });
  });

  it('documents Kafka TLS and SASL in commented env entries the process knows, consistent once uncommented', () => {
    for (const [file, d] of [
      ['infra/k8s/bot.yaml', bot],
      ['infra/k8s/agent.yaml', agent],
    ] as const) {
      // `# - name: X`, `#   value: …`, `#   valueFrom:`, `#     secretKeyRef: …`
      const commented = read(file)
        .split('\n')
        .map(
          (line) =>
            line.match(/^\s*# ( ?- name: .*|\s+(?:value|valueFrom|secretKeyRef): ?.*)$/)?.[1],
        )
        .filter((line): line is string => line !== undefined);
      const entries = parse(commented.join('\n')) as Json[];
      expect(
        entries.map((e) => e.name),
        file,
      ).toEqual([
        'KAFKA_SSL',
        'KAFKA_SASL_MECHANISM',
        'KAFKA_SASL_USERNAME',
        'KAFKA_SASL_PASSWORD',
      ]);
      const schema = schemaOf(
        commandOfTarget(container(d).image.match(/rollout-chatops-(\w+)/)[1]),
      );
      const env: Record<string, string> = Object.fromEntries(
        envOf(d)
          .filter((e) => e.value !== undefined)
          .map((e) => [e.name, String(e.value)]),
      );
      for (const entry of entries) {
        expect(Object.keys(schema.shape), `${file}: ${entry.name}`).toContain(entry.name);
        env[entry.name] = entry.value ?? `from-${entry.valueFrom.secretKeyRef.key}`;
      }
      const security = kafkaSecurity(
        parseEnv(schema, env) as Parameters<typeof kafkaSecurity>[0],
        () => '',
      );
      expect(security.tls, file).toEqual({});
      expect(security.sasl?.mechanism, file).toBe(env.KAFKA_SASL_MECHANISM);
    }
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
      HEALTH_TOPIC,
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

describe('README: Kafka ACLs', () => {
  it('grants each process what it uses, on the topics and groups as the code names them', () => {
    const readme = read('README.md');
    const section = readme.slice(readme.indexOf('### Kafka ACLs'));
    const block = section.match(/```sh\n([\s\S]*?)```/)![1]!.replace(/\\\n\s*/g, ' ');
    const grants = block
      .split('\n')
      .filter((line) => line.startsWith('acl '))
      .flatMap((line) => {
        const principal = line.match(/--allow-principal (\S+)/)![1];
        const [, kind, name] = line.match(/--(topic|group) (\S+)/)!;
        const pattern = line.includes('--resource-pattern-type prefixed') ? '*' : '';
        return [...line.matchAll(/--operation (\w+)/g)].map(
          ([, operation]) => `${principal} ${operation} ${kind} ${name}${pattern}`,
        );
      });
    const commandsPrefix = commandTopic('eu-west').slice(0, -'eu-west'.length);
    const bot = 'User:rollout-bot';
    const agent = 'User:rollout-agent-eu-west';
    expect(grants.sort()).toEqual(
      [
        `${bot} Write topic ${commandsPrefix}*`,
        `${bot} Describe topic ${commandsPrefix}*`,
        `${bot} Write topic ${DLQ_TOPIC}`,
        `${bot} Describe topic ${DLQ_TOPIC}`,
        `${bot} Read topic ${EVENTS_TOPIC}`,
        `${bot} Read group ${BOT_EVENTS_GROUP}`,
        `${bot} Read topic ${HEALTH_TOPIC}`,
        `${bot} Read group ${BOT_HEALTH_GROUP}`,
        `${agent} Read topic ${commandTopic('eu-west')}`,
        `${agent} Read group ${agentGroup('eu-west')}`,
        `${agent} Write topic ${EVENTS_TOPIC}`,
        `${agent} Write topic ${HEALTH_TOPIC}`,
        `${agent} Write topic ${DLQ_TOPIC}`,
      ].sort(),
    );
  });
});
