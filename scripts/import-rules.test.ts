import { describe, expect, it } from 'vitest';
import { importProblems, readImports } from './check-imports.js';
import { importViolations } from './import-rules.js';

describe('importViolations', () => {
  it('passes a graph that keeps to the rules', () => {
    expect(
      importViolations({
        'shared/log.ts': [],
        'bot/main.ts': ['shared/log.ts', 'bot/bot-runtime.ts'],
        'agent/main.ts': ['shared/log.ts'],
        'local/main.ts': ['bot/main.ts', 'agent/agent.ts', 'test/support/x.ts'],
        'bot/card.test.ts': ['bot/card.ts', 'test/support/state-builders.ts'],
        'test/support/slack-api-double.ts': ['local/console/slack-web-api.ts'],
      }),
    ).toEqual([]);
  });

  it.each([
    ['bot/local-mode.ts', 'agent/agent.ts'],
    ['bot/main.ts', 'local/console/console-mode.ts'],
    ['bot/slack/surface.ts', 'test/support/slack-api-double.ts'],
    ['agent/main.ts', 'bot/main.ts'],
    ['agent/agent.ts', 'local/local-mode.ts'],
    ['agent/agent.ts', 'test/support/wait-for.ts'],
    ['shared/log.ts', 'bot/main.ts'],
    ['shared/log.ts', 'local/main.ts'],
    ['shared/log.ts', 'test/support/wait-for.ts'],
    ['bot/rollout-service.test.ts', 'agent/agent.ts'],
    ['agent/agent.test.ts', 'local/local-mode.ts'],
  ])('rejects %s importing %s, naming both', (file, dep) => {
    const problems = importViolations({ [file]: [dep] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${file} imports ${dep}`);
  });

  it('lets a unit test beside the code import test/ support', () => {
    expect(importViolations({ 'agent/agent.test.ts': ['test/support/agent-harness.ts'] })).toEqual(
      [],
    );
  });
});

describe('the repository', () => {
  it('keeps to the import rules: no cycles, and no bot/ import of agent/, local/ or test/', async () => {
    const check = await readImports();
    expect(importProblems(check)).toEqual([]);
    // The rules only mean something if the graph holds the folders they are about.
    for (const folder of ['shared/', 'bot/', 'agent/', 'local/']) {
      expect(
        Object.keys(check.graph).some((f) => f.startsWith(folder)),
        folder,
      ).toBe(true);
    }
    const botEdges = Object.entries(check.graph)
      .filter(([file]) => file.startsWith('bot/') && !file.endsWith('.test.ts'))
      .flatMap(([, deps]) => deps);
    expect(botEdges.filter((dep) => !/^(bot|shared)\//.test(dep))).toEqual([]);
  }, 60_000);
});
