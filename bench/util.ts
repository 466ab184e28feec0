/** Shared benchmark plumbing: the row shape, medians, percentiles, timing, /proc and the table printer. */
import { readFileSync } from 'node:fs';

/**
 * One result: our figure and each peer's, measured in the same run. A peer that could not
 * run is null (the reason went to stderr). Network scenarios have the peers `tcp`, `tls`
 * and `secret-stream`; in-process rows name their own references.
 */
export interface Row {
  readonly scenario: string;
  readonly unit: string;
  readonly secsess: number | null;
  readonly peers: Record<string, number | null>;
}

export const PEER_NAMES = ['tcp', 'tls', 'secret-stream'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** Units where a smaller number is better (so secsess/peer below 1 is good). */
const LOWER_IS_BETTER = new Set(['µs', 'ms', 'KiB', 'KiB/session', 'µs/hs', 'µs/conn', '×']);

export function lowerIsBetter(unit: string): boolean {
  return LOWER_IS_BETTER.has(unit);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The nearest-rank percentile `p` (0–100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Median of per-repetition results, or null when nothing ran. */
export function medianOrNull(values: readonly number[]): number | null {
  return values.length === 0 ? null : median(values);
}

/**
 * µs of CPU time per call of fn, median over `reps` timed batches of `n` calls each (after a
 * warm-up). CPU time rather than wall time, so that other processes on a shared machine do
 * not count; on a quiet machine the two agree. Batches should last a few ms at least.
 */
export function timeUs(fn: () => void, n: number, reps: number): number {
  // Warm-up long enough for V8 to optimize `fn` (200 calls were too few: a function first
  // timed here ran partly unoptimized). Callers feeding a finite input allow n + 200 calls.
  for (let i = 0; i < Math.min(n + 200, 2000); i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const t = process.cpuUsage(t0);
    samples.push((t.user + t.system) / n);
  }
  return median(samples);
}

/**
 * Like `timeUs` for several functions at once, their batches interleaved (a batch of each in
 * turn, `reps` rounds), so that load on a shared machine hits them alike. Returns the median
 * µs per call of each, in order.
 */
export function timeUsEach(fns: readonly (() => void)[], n: number, reps: number): number[] {
  for (const fn of fns) for (let i = 0; i < Math.min(n + 200, 2000); i++) fn();
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    fns.forEach((fn, k) => {
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) fn();
      const t = process.cpuUsage(t0);
      samples[k]!.push((t.user + t.system) / n);
    });
  }
  return samples.map(median);
}

/** Nanosecond clock as a number of µs. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/** Progress and reasons go to stderr, so `--json` keeps stdout to one document. */
export function log(line: string): void {
  process.stderr.write(line + '\n');
}

const fmt = (v: number | null): string =>
  v === null || !Number.isFinite(v)
    ? 'n/a'
    : v >= 100
      ? v.toFixed(0)
      : v >= 10
        ? v.toFixed(1)
        : v >= 0.1
          ? v.toFixed(2)
          : v.toFixed(3);

/** secsess/peer, or 'n/a'. */
export function ratio(secsess: number | null, peer: number | null): string {
  return secsess !== null && peer ? (secsess / peer).toFixed(2) : 'n/a';
}

/** Prints rows as an aligned table with the ratio secsess/peer for every peer. */
export function printTable(rows: readonly Row[], out: (line: string) => void = (l) => console.log(l)): void {
  const lines: string[][] = [['scenario', 'unit', 'secsess', 'peer', 'peer value', 'secsess/peer']];
  for (const r of rows) {
    const peers = Object.entries(r.peers);
    if (peers.length === 0) lines.push([r.scenario, r.unit, fmt(r.secsess), '', '', '']);
    peers.forEach(([name, v], i) => {
      const first = i === 0;
      lines.push([
        first ? r.scenario : '',
        first ? r.unit : '',
        first ? fmt(r.secsess) : '',
        name,
        fmt(v),
        ratio(r.secsess, v),
      ]);
    });
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines)
    out(
      l
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** The same rows as a Markdown table (for BENCHMARKS.md). */
export function markdownTable(rows: readonly Row[]): string {
  const out = [
    '| scenario | unit | secsess | peer | peer value | secsess/peer |',
    '|---|---|--:|---|--:|--:|',
  ];
  for (const r of rows) {
    const peers = Object.entries(r.peers);
    if (peers.length === 0) out.push(`| ${r.scenario} | ${r.unit} | ${fmt(r.secsess)} | | | |`);
    peers.forEach(([name, v], i) => {
      const first = i === 0;
      out.push(
        `| ${first ? r.scenario : ''} | ${first ? r.unit : ''} | ${first ? fmt(r.secsess) : ''} | ${name} | ${fmt(v)} | ${ratio(r.secsess, v)} |`,
      );
    });
  }
  return out.join('\n');
}

const TICK_US = 1e6 / 100; // USER_HZ: 100 on every Linux the bench runs on

/**
 * User + system CPU time (µs) of processes, every thread, from /proc/PID/stat; with
 * `mainThread`, of their main threads only (/proc/PID/task/PID/stat: the event loop, not the
 * worker threads). Null off Linux.
 */
export function procCpuUs(pids: readonly number[], options: { mainThread?: boolean } = {}): number | null {
  let sum = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(
        options.mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`,
        'utf8',
      );
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += (Number(fields[11]) + Number(fields[12])) * TICK_US; // utime, stime (fields 14, 15)
    } catch {
      return null;
    }
  }
  return sum;
}

/** Resident set size of processes (bytes), from /proc/PID/statm; null off Linux. */
export function procRssBytes(pids: readonly number[]): number | null {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
    } catch {
      return null;
    }
  }
  return sum;
}
