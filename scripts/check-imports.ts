/**
 * Architecture check run by `npm run lint`: no import cycles anywhere, and `shared/` never
 * imports from `bot/` or `agent/` (it is the contract both sides build on).
 */
import madge from 'madge';

const roots = ['bot', 'agent', 'shared'];
const graph = await madge(roots, {
  baseDir: '.',
  fileExtensions: ['ts'],
  tsConfig: 'tsconfig.json',
  detectiveOptions: { ts: { skipTypeImports: false } },
  excludeRegExp: [/node_modules/],
});

const problems: string[] = [];
for (const cycle of graph.circular()) problems.push(`import cycle: ${cycle.join(' -> ')}`);
for (const [file, deps] of Object.entries(graph.obj())) {
  if (!file.startsWith('shared/')) continue;
  for (const dep of deps) {
    if (dep.startsWith('bot/') || dep.startsWith('agent/')) {
      problems.push(`${file} imports ${dep}: shared/ must not depend on bot/ or agent/`);
    }
  }
}
const skipped = graph.warnings().skipped.filter((s: string) => !s.startsWith('node:'));
if (skipped.length > 0) problems.push(`could not resolve: ${skipped.join(', ')}`);

if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(
  `imports ok: ${Object.keys(graph.obj()).length} files, no cycles, shared/ stands alone`,
);
