/**
 * The architecture's import rules, as a pure function over an import graph (file → the files it
 * imports, paths relative to the repository root), so they can be tested on a made-up graph.
 *
 * - `shared/` is the contract both sides build on: it imports none of the other folders.
 * - `bot/` and `agent/` are separate processes and separate images: neither imports the other,
 *   `local/` (local mode and its console, a composition of both for trying the product) or
 *   `test/` (test doubles and harnesses).
 * - A unit test beside the code (`*.test.ts`) may import `test/` (builders, doubles), nothing
 *   else its folder may not.
 * `local/`, `test/`, `bench/` and `scripts/` may import anything (no cycles, as everywhere).
 */
export type ImportGraph = Record<string, string[]>;

/** For each folder, the folders its files must not import. */
export const FORBIDDEN_IMPORTS: Record<string, readonly string[]> = {
  shared: ['bot', 'agent', 'local', 'test', 'bench', 'scripts'],
  bot: ['agent', 'local', 'test'],
  agent: ['bot', 'local', 'test'],
};

const WHY: Record<string, string> = {
  shared: 'shared/ is the contract both sides build on and stands alone',
  bot: 'the bot ships alone: no agent, local mode, console or test doubles in its image',
  agent: 'the agent ships alone: no bot, local mode, console or test doubles in its image',
};

const topFolder = (file: string): string => file.split('/')[0] ?? '';

/** One line per import that breaks a rule, naming both files and the rule; empty when all is well. */
export function importViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const [file, deps] of Object.entries(graph)) {
    const folder = topFolder(file);
    const forbidden = FORBIDDEN_IMPORTS[folder];
    if (!forbidden) continue;
    const isTest = file.endsWith('.test.ts');
    for (const dep of deps) {
      const target = topFolder(dep);
      if (!forbidden.includes(target)) continue;
      if (isTest && target === 'test') continue;
      problems.push(
        `${file} imports ${dep}: ${folder}/ must not import ${target}/ (${WHY[folder]})`,
      );
    }
  }
  return problems;
}
