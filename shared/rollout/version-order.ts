/**
 * The order of two versions as people write them (`2.4.1`, `v2.4.1`, `2.5.0-rc.1`, `1.2`): numeric
 * dot parts compared as numbers (missing parts are 0), then semver's pre-release rule (a
 * pre-release comes before its release; identifiers compared one by one, numbers as numbers).
 * Build metadata (`+build.5`) does not order. Pure; no semver library, because these few rules
 * are all the bot needs and a version it cannot order is answered, not guessed.
 */

const FORM = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

interface Parsed {
  numbers: number[];
  pre: string[];
  build: string;
}

function parse(version: string): Parsed | undefined {
  const match = FORM.exec(version.trim());
  if (!match) return undefined;
  const numbers = match[1]!.split('.').map(Number);
  if (numbers.some((n) => !Number.isSafeInteger(n))) return undefined;
  return { numbers, pre: match[2] ? match[2].split('.') : [], build: match[3] ?? '' };
}

/**
 * Negative when `a` comes before `b`, positive after, 0 when they are the same release (they may
 * differ in build metadata or a leading `v`); `undefined` when either is not of that form.
 */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < Math.max(x.numbers.length, y.numbers.length); i++) {
    const diff = (x.numbers[i] ?? 0) - (y.numbers[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return comparePre(x.pre, y.pre);
}

/** Semver 2.0 §11: no pre-release > any pre-release; else identifier by identifier. */
function comparePre(a: string[], b: string[]): number {
  if (a.length === 0 || b.length === 0) return Math.sign(b.length - a.length);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [p, q] = [a[i]!, b[i]!];
    if (p === q) continue;
    const [pn, qn] = [/^\d+$/.test(p), /^\d+$/.test(q)];
    if (pn && qn) return Math.sign(Number(p) - Number(q));
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return Math.sign(a.length - b.length);
}

/**
 * The same version: equal as written, or (when both can be ordered) the same release with the
 * same build metadata (`v2.4.1` is `2.4.1`; `2.4.1+b2` is another build of it, not the same).
 */
export function sameVersion(a: string, b: string): boolean {
  if (a === b) return true;
  const [x, y] = [parse(a), parse(b)];
  return x !== undefined && y !== undefined && compareVersions(a, b) === 0 && x.build === y.build;
}
