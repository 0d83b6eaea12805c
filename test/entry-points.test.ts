/**
 * Every runtime entry point and every runtime dependency loads on this Node, in a process of its
 * own as `npm start` would load them (not through vitest's module runner), and loading an entry
 * point does not start it. A dependency upgrade that breaks loading (undici 8 on Node 20 crashes
 * on import) fails here rather than for a user.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/entry-process.js';

const ENTRY_POINTS = ['bot/main.ts', 'agent/main.ts', 'local/main.ts', 'bench/main.ts'];

describe('runtime entry points', () => {
  it('load in a fresh Node process with every runtime dependency, without starting', async () => {
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const specifiers = [
      ...ENTRY_POINTS.map((entry) => `./${entry}`),
      ...Object.keys(pkg.dependencies),
    ];
    // Each import is awaited on its own so a failure names the module; nothing may keep the
    // process alive afterwards (an entry point that started would hold sockets or stdin open).
    const script = `
      for (const specifier of ${JSON.stringify(specifiers)}) {
        try { await import(specifier); }
        catch (err) { console.error('cannot load ' + specifier + ': ' + (err && err.stack || err)); process.exit(1); }
      }
      console.log('loaded ' + ${specifiers.length});
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      {
        cwd: REPO_ROOT,
        timeout: 60_000,
        env: { ...process.env, KAFKA_BROKERS: '', REDIS_URL: '' },
      },
    );
    expect(stdout.trim()).toBe(`loaded ${specifiers.length}`);
  }, 90_000);
});
