import { BenchUsageError } from './scale/options.js';

/** Sections of `npm run bench` that run alone with `--only <name>` (no Kafka, no Redis). */
export const SECTIONS = ['judge', 'release'] as const;
export type Section = (typeof SECTIONS)[number];

/**
 * The section `--only <name>` asks for, or undefined for the full run. A name that is not a
 * section is a `BenchUsageError` listing the sections, rather than a silent full run.
 */
export function parseOnly(argv: readonly string[]): Section | undefined {
  const at = argv.indexOf('--only');
  if (at < 0) return undefined;
  const name = argv[at + 1];
  const found = SECTIONS.find((s) => s === name);
  if (found === undefined) {
    throw new BenchUsageError('--only', name, `one of ${SECTIONS.join(', ')}`);
  }
  return found;
}
