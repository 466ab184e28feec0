/**
 * How every set of test vectors appears in PROTOCOL.md: between two HTML-comment markers,
 * one bold title and one fenced block per group, long hex folded at 64 characters. Shared
 * by Part I's vectors (vectors.ts) and Part II's (dgram-record-vectors.ts,
 * dgram-handshake-vectors.ts).
 */
export type VectorBlocks = Record<string, Record<string, string>>;

/** The marked section for `v`, from `begin` to `end` inclusive. */
export function renderSection(begin: string, end: string, v: VectorBlocks): string {
  const lines = [begin];
  for (const [title, block] of Object.entries(v)) {
    lines.push('', `**${title}**`, '', '```');
    for (const [k, value] of Object.entries(block)) {
      if (/^[0-9a-f]+$/.test(value) && value.length > 64) {
        lines.push(`${k}:`);
        for (let i = 0; i < value.length; i += 64) lines.push(`  ${value.slice(i, i + 64)}`);
      } else {
        lines.push(`${k}: ${value}`);
      }
    }
    lines.push('```');
  }
  lines.push('', end);
  return lines.join('\n');
}

/** `doc` with its section between `begin` and `end` replaced by `section`. */
export function replaceSection(doc: string, begin: string, end: string, section: string): string {
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`PROTOCOL.md has no ${begin} … ${end} markers`);
  return doc.slice(0, a) + section + doc.slice(b + end.length);
}
