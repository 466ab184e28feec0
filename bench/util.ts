/** Shared benchmark plumbing: the row shape, medians, and the table printer. */

/** One result: our figure and each peer's, measured in the same run. null: could not run. */
export interface Row {
  readonly scenario: string;
  readonly unit: string;
  readonly secsess: number | null;
  readonly peers: Record<string, number | null>;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const fmt = (v: number | null): string =>
  v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

/** Prints rows as an aligned table with the ratio secsess/peer for every peer. */
export function printTable(rows: readonly Row[], out: (line: string) => void = (l) => console.log(l)): void {
  const lines: string[][] = [['scenario', 'unit', 'secsess', 'peer', 'peer value', 'secsess/peer']];
  for (const r of rows) {
    const peers = Object.entries(r.peers);
    if (peers.length === 0) lines.push([r.scenario, r.unit, fmt(r.secsess), '', '', '']);
    for (const [name, v] of peers) {
      const ratio = r.secsess !== null && v ? (r.secsess / v).toFixed(2) : 'n/a';
      lines.push([r.scenario, r.unit, fmt(r.secsess), name, fmt(v), ratio]);
    }
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) out(l.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}
