/**
 * Architecture check run by `npm run lint`: no import cycles anywhere, and the folder rules of
 * `import-rules.ts` (shared/ stands alone; bot/ and agent/ import neither each other nor local/ or
 * test/).
 */
import { pathToFileURL } from 'node:url';
import madge from 'madge';
import { importViolations, type ImportGraph } from './import-rules.js';

/** Every folder with runtime or tooling code: what the rules and the cycle check cover. */
export const ROOTS = ['shared', 'bot', 'agent', 'local', 'bench', 'scripts'];

export interface ImportCheck {
  graph: ImportGraph;
  cycles: string[][];
  /** Imports madge could not resolve (other than node: built-ins). */
  unresolved: string[];
}

/** The repository's import graph (type-only imports included), read from `baseDir`. */
export async function readImports(baseDir = '.'): Promise<ImportCheck> {
  const result = await madge(ROOTS, {
    baseDir,
    fileExtensions: ['ts'],
    tsConfig: `${baseDir}/tsconfig.json`,
    detectiveOptions: { ts: { skipTypeImports: false } },
    excludeRegExp: [/node_modules/],
  });
  return {
    graph: result.obj(),
    cycles: result.circular(),
    unresolved: result.warnings().skipped.filter((s: string) => !s.startsWith('node:')),
  };
}

export function importProblems(check: ImportCheck): string[] {
  return [
    ...check.cycles.map((cycle) => `import cycle: ${cycle.join(' -> ')}`),
    ...importViolations(check.graph),
    ...(check.unresolved.length > 0 ? [`could not resolve: ${check.unresolved.join(', ')}`] : []),
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const check = await readImports();
  const problems = importProblems(check);
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log(
    `imports ok: ${Object.keys(check.graph).length} files, no cycles, shared/ stands alone, ` +
      'bot/ and agent/ import neither each other nor local/ or test/',
  );
}
