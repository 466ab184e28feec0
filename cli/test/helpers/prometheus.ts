/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for tests: every
 * line is empty, a `# HELP name text`, a `# TYPE name type` or a sample `name{labels} value`;
 * a family's TYPE comes before its samples (and at most once), HELP at most once; no sample
 * twice; counters are not negative; a histogram's buckets are cumulative, end with
 * `le="+Inf"`, and that bucket equals `_count`. Anything else throws, naming the line.
 */

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  type: string | null;
  help: string | null;
  readonly samples: Sample[];
}

/** The families of `text`, by name; throws on the first line that breaks the rules. */
export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  const fail = (n: number, why: string): never => {
    throw new Error(`line ${n + 1}: ${why}: ${JSON.stringify(lines[n])}`);
  };
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: null, help: null, samples: [] }));
    return f;
  };
  lines.forEach((line, n) => {
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return fail(n, 'a comment other than # HELP / # TYPE');
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!)) return fail(n, 'not a metric name');
      const f = family(name!);
      if (f.samples.length > 0) return fail(n, `${kind} after the samples of ${name}`);
      if (kind === 'HELP') {
        if (f.help !== null) return fail(n, 'a second HELP');
        f.help = rest;
      } else {
        if (f.type !== null) return fail(n, 'a second TYPE');
        if (!TYPES.has(rest)) return fail(n, 'an unknown type');
        f.type = rest;
      }
      return;
    }
    const m = SAMPLE.exec(line);
    if (!m) return fail(n, 'not a sample');
    const [, name, labelText = '', valueText] = m;
    const labels: Record<string, string> = {};
    let rest = labelText;
    while (rest !== '') {
      const l = LABEL.exec(rest);
      if (!l) return fail(n, 'malformed labels');
      if (l[1]! in labels) return fail(n, `label ${l[1]} twice`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
      rest = rest.slice(l[0].length);
    }
    const value = parseValue(valueText!);
    if (value === null) return fail(n, 'not a number');
    const base = familyOf(name!, families);
    const f = families.get(base);
    if (!f || f.type === null) return fail(n, `a sample before the TYPE of ${base}`);
    const key = `${name}{${Object.entries(labels)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}}`;
    if (seen.has(key)) return fail(n, 'the same sample twice');
    seen.add(key);
    if (f.type === 'counter' && !(value >= 0)) return fail(n, 'a negative counter');
    f.samples.push({ name: name!, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** `+Inf`, `-Inf`, `NaN` or a Go-style float; null if none of them. */
function parseValue(text: string): number | null {
  // As Prometheus reads them (Go's ParseFloat): NaN and Inf in any case. prom-client writes
  // `Nan` for the event-loop lag before its first sample (a first scrape right after start).
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return null;
  return Number(text);
}

/** The family a sample belongs to: a histogram's or summary's `_bucket`/`_sum`/`_count` go to their base. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = families.get(base)?.type;
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base;
  }
  return name;
}

/** Buckets cumulative, ending with +Inf = _count, and a _sum (per label set but `le`). */
function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: Sample[]; sum?: Sample; count?: Sample }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let entry = series.get(key);
    if (!entry) series.set(key, (entry = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      entry.buckets.push(s);
    } else if (s.name === `${f.name}_sum`) entry.sum = s;
    else if (s.name === `${f.name}_count`) entry.count = s;
    else throw new Error(`${f.name}: a sample ${s.name} that is no bucket, sum or count`);
  }
  for (const { buckets, sum, count } of series.values()) {
    if (!sum || !count || buckets.length === 0) throw new Error(`${f.name}: missing buckets, _sum or _count`);
    let previousLe = -Infinity;
    let previous = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels['le']!);
      if (le === null || !(le > previousLe)) throw new Error(`${f.name}: bucket bounds not increasing`);
      if (b.value < previous) throw new Error(`${f.name}: buckets not cumulative`);
      previousLe = le;
      previous = b.value;
    }
    if (buckets.at(-1)!.labels['le'] !== '+Inf') throw new Error(`${f.name}: the last bucket is not +Inf`);
    if (buckets.at(-1)!.value !== count.value) throw new Error(`${f.name}: the +Inf bucket is not _count`);
  }
}

/** The value of the one sample `name` with `labels` (exactly those), or throws. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) {
        return s.value;
      }
    }
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
}
