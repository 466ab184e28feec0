/**
 * The `refused` lines a peer can make a tunnel write are bounded: REFUSED_BURST at once,
 * REFUSED_PER_SECOND after; the refusals past them are counted and logged as one
 * `refused suppressed=N` line (by its one-second timer, or when the process drains or stops).
 */
import test from 'ava';
import { REFUSED_BURST, REFUSED_PER_SECOND, TunnelLog } from '../src/tunnel/conn-log.js';

function rig(): { log: TunnelLog; lines: string[]; advance(ms: number): void } {
  const lines: string[] = [];
  let now = 1_000;
  const log = new TunnelLog(
    'text',
    'serve',
    { write: (text) => lines.push(String(text).replace(/\n$/, '')) },
    () => now,
  );
  return { log, lines, advance: (ms) => (now += ms) };
}

const refusedLines = (lines: string[]): string[] =>
  lines.filter((l) => l.startsWith('secsess: refused peer='));

test('a flood of refusals writes REFUSED_BURST lines, then counts the rest in one suppressed line', (t) => {
  const { log, lines, advance } = rig();
  const flood = REFUSED_BURST + 250;
  for (let i = 0; i < flood; i++) log.refused(`127.0.0.1:${1024 + i}`, 'ERR_HANDSHAKE');
  t.is(refusedLines(lines).length, REFUSED_BURST);
  t.false(
    lines.some((l) => l.includes('suppressed')),
    'nothing about the rest yet',
  );

  // A second later the bucket has REFUSED_PER_SECOND lines again; the count waits for its
  // timer (or the drain), so a flood never makes more than one count line a second.
  advance(1000);
  log.refused('127.0.0.1:9', 'ERR_HANDSHAKE');
  t.is(lines.at(-1), 'secsess: refused peer=127.0.0.1:9 code=ERR_HANDSHAKE');

  // Sustained: at most REFUSED_PER_SECOND refused lines a second whatever comes (plus what
  // the bucket still held: under REFUSED_PER_SECOND after the line above), and every line
  // the flood causes counts, the suppressed one included.
  const before = lines.length;
  for (let second = 0; second < 5; second++) {
    advance(1000);
    for (let i = 0; i < 1000; i++) log.refused('127.0.0.1:10', 'ERR_HANDSHAKE');
  }
  t.true(lines.length - before < 6 * REFUSED_PER_SECOND);
  // Draining writes what was counted, before its own line, once.
  log.draining(0);
  const counted = lines.filter((l) => l.startsWith('secsess: refused suppressed='));
  t.is(counted.length, 1);
  const suppressed = Number(/suppressed=(\d+)/.exec(counted[0]!)![1]);
  t.is(suppressed + refusedLines(lines).length, flood + 1 + 5000);
  t.is(lines.at(-1), 'secsess: draining sessions=0');
});

test('refusals within the bucket are all written, with their limit', (t) => {
  const { log, lines } = rig();
  log.refused('[::1]:5', 'ERR_SERVER_BUSY', 'maxConnections');
  log.refused('127.0.0.1:6', 'ERR_MAX_CONNS');
  t.deepEqual(lines, [
    'secsess: refused peer=[::1]:5 code=ERR_SERVER_BUSY limit=maxConnections',
    'secsess: refused peer=127.0.0.1:6 code=ERR_MAX_CONNS',
  ]);
});

test('the suppressed count is logged within a second even when the flood stops', async (t) => {
  const { log, lines } = rig();
  for (let i = 0; i < REFUSED_BURST + 3; i++) log.refused('127.0.0.1:7', 'ERR_HANDSHAKE');
  // The count's own timer (real time): wait for the line, bounded.
  for (let i = 0; i < 50 && !lines.includes('secsess: refused suppressed=3'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.true(lines.includes('secsess: refused suppressed=3'));
});
