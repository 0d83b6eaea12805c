/** Known names within a small edit distance of `name`, closest first (for "did you mean"). */
export function nearestNames(name: string, known: string[]): string[] {
  const scored = known
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(
      ({ k, d }) =>
        d <= Math.max(2, Math.floor(k.length / 3)) || k.startsWith(name) || name.startsWith(k),
    );
  return scored
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ k }) => k);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}
