/**
 * The replay window (PROTOCOL.md §D6) against a model that keeps every accepted seq in a
 * Set: the same verdicts, the same `top`, the same gap count, for network-like streams
 * (loss, duplication, reordering, long jumps) drawn from a seeded PRNG, and for arbitrary
 * operation lists from fast-check (fixed seed).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { ReplayWindow } from '../src/protocol/datagram/replay-window.js';
import type { ReplayMode, ReplayVerdict } from '../src/protocol/datagram/replay-window.js';

/** mulberry32: a small deterministic PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The specification of §D6, kept as plainly as possible. */
class Model {
  readonly accepted = new Set<number>();
  top = -1;
  gaps = 0;
  constructor(
    readonly mode: ReplayMode,
    readonly size: number,
  ) {}

  check(seq: number): ReplayVerdict {
    if (this.mode === 'window') {
      if (seq > this.top) return null;
      if (seq <= this.top - this.size) return 'too-old';
      return this.accepted.has(seq) ? 'duplicate' : null;
    }
    if (seq === this.top) return 'duplicate';
    if (seq < this.top) return 'too-old';
    if (this.mode === 'sequential' && seq !== this.top + 1) return 'out-of-sequence';
    return null;
  }

  accept(seq: number): boolean {
    this.accepted.add(seq);
    if (seq <= this.top) return false;
    this.gaps += seq - this.top - 1;
    this.top = seq;
    return true;
  }
}

/**
 * What a lossy, duplicating, reordering network delivers of the seqs 0 … n − 1: each is lost
 * with probability `loss`, duplicated with `dup`, and held back by up to `maxDelay` places
 * with `reorder`; now and then the sender jumps ahead (`jump`), as after a long loss burst.
 */
function network(
  random: () => number,
  n: number,
  p: { loss: number; dup: number; reorder: number; maxDelay: number; jump: number; jumpBy: number },
): number[] {
  const slots: { at: number; seq: number }[] = [];
  let seq = 0;
  for (let i = 0; i < n; i++, seq++) {
    if (random() < p.jump) seq += 1 + Math.floor(random() * p.jumpBy);
    if (random() < p.loss) continue;
    const copies = random() < p.dup ? 2 + Math.floor(random() * 2) : 1;
    for (let c = 0; c < copies; c++) {
      const delay = random() < p.reorder ? random() * p.maxDelay : 0;
      slots.push({ at: i + delay + c * random() * 50, seq });
    }
  }
  return slots.sort((a, b) => a.at - b.at).map((s) => s.seq);
}

function runAgainstModel(
  t: ExecutionContext,
  mode: ReplayMode,
  size: number,
  seqs: readonly number[],
  rejectSome: () => boolean,
): { delivered: number } {
  const w = new ReplayWindow(mode, size);
  const m = new Model(mode, size);
  let delivered = 0;
  for (const [i, seq] of seqs.entries()) {
    const verdict = w.check(seq);
    const expected = m.check(seq);
    if (verdict !== expected) {
      t.fail(`step ${i}: seq ${seq} (top ${m.top}): window says ${verdict}, model ${expected}`);
      return { delivered };
    }
    // A packet that fails authentication after the check: the window must not change.
    if (verdict !== null || rejectSome()) continue;
    const advanced = w.accept(seq);
    if (advanced !== m.accept(seq) || w.top !== m.top || w.gaps !== m.gaps) {
      t.fail(
        `step ${i}: accept ${seq}: advanced ${advanced}, top ${w.top}/${m.top}, gaps ${w.gaps}/${m.gaps}`,
      );
      return { delivered };
    }
    delivered++;
  }
  t.is(w.top, m.top);
  t.is(w.gaps, m.gaps);
  return { delivered };
}

const PROFILES = {
  clean: { loss: 0, dup: 0, reorder: 0, maxDelay: 0, jump: 0, jumpBy: 0 },
  lossy: { loss: 0.2, dup: 0.05, reorder: 0.1, maxDelay: 40, jump: 0, jumpBy: 0 },
  hostile: { loss: 0.1, dup: 0.3, reorder: 0.4, maxDelay: 3000, jump: 0.002, jumpBy: 5000 },
  jumpy: { loss: 0.05, dup: 0.1, reorder: 0.2, maxDelay: 1200, jump: 0.01, jumpBy: 70_000 },
};

for (const mode of ['window', 'increasing', 'sequential'] as const) {
  for (const [name, profile] of Object.entries(PROFILES)) {
    for (const size of mode === 'window' ? [1024, 1056, 2048] : [2048]) {
      test(`${mode} (W ${size}) agrees with the model on a ${name} network`, (t) => {
        for (let seed = 1; seed <= 4; seed++) {
          const random = prng(seed * 7919 + size);
          const seqs = network(random, 6000, profile);
          // Sequential mode stops at the first missing seq, forged ones included: none on a clean run.
          const forged = mode === 'sequential' && name === 'clean' ? 0 : 0.05;
          const { delivered } = runAgainstModel(t, mode, size, seqs, () => random() < forged);
          if (name === 'clean') t.true(delivered >= 5000, 'a clean network loses nothing but the forged');
        }
      });
    }
  }
}

test('fast-check: arbitrary seqs, checks and rejections agree with the model in every mode', (t) => {
  const op = fc.record({
    seq: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 4200 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 200_000 }) },
      { weight: 1, arbitrary: fc.constant(2 ** 48 - 1) },
    ),
    rejected: fc.boolean(),
  });
  fc.assert(
    fc.property(
      fc.constantFrom<ReplayMode>('window', 'increasing', 'sequential'),
      fc.constantFrom(1024, 1056, 1088),
      fc.array(op, { maxLength: 400 }),
      (mode, size, ops) => {
        const w = new ReplayWindow(mode, size);
        const m = new Model(mode, size);
        for (const { seq, rejected } of ops) {
          if (w.check(seq) !== m.check(seq)) return false;
          if (m.check(seq) !== null || rejected) continue;
          if (w.accept(seq) !== m.accept(seq) || w.top !== m.top || w.gaps !== m.gaps) return false;
        }
        return true;
      },
    ),
    { seed: 0x5ec5e55, numRuns: 300 },
  );
  t.pass();
});

test('window: a seq at top − W is too old, at top − W + 1 still in the window', (t) => {
  const w = new ReplayWindow('window', 1024);
  w.accept(5000);
  t.is(w.check(5000 - 1024), 'too-old');
  t.is(w.check(5000 - 1023), null);
  w.accept(5000 - 1023);
  t.is(w.check(5000 - 1023), 'duplicate');
  t.is(w.check(5000), 'duplicate');
  t.is(w.check(5001), null);
});

test('window: every seq of the window is delivered once in any order, never twice', (t) => {
  const size = 1056; // not a power of two: the ring wraps mid-word
  const w = new ReplayWindow('window', size);
  const random = prng(42);
  const base = 123_457;
  const seqs = Array.from({ length: size }, (_, i) => base + i);
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  w.accept(base + size - 1); // top first: the whole range is in the window
  let delivered = 1;
  for (const seq of seqs) {
    if (w.check(seq) === null) {
      w.accept(seq);
      delivered++;
    }
  }
  t.is(delivered, size);
  for (const seq of seqs) t.is(w.check(seq), 'duplicate');
});

test('window: a jump of exactly W clears the whole ring; a jump of W − 1 keeps top', (t) => {
  const w = new ReplayWindow('window', 1024);
  for (let s = 0; s < 1024; s++) w.accept(s);
  w.accept(1023 + 1023);
  t.is(w.check(1023), 'duplicate', 'the old top is still in the window');
  t.is(w.check(1022), 'too-old');
  t.is(w.check(1024), null, 'never seen, and its slot was cleared');
  w.accept(1023 + 1023 + 1024);
  for (let s = 1023 + 1024 + 1; s < 1023 + 1023 + 1024; s++) {
    if (w.check(s) !== null) return t.fail(`seq ${s} should be new`);
  }
  t.is(w.check(1023 + 1023), 'too-old');
  t.is(w.gaps, 1022 + 1023);
});

test('the largest seq (2^48 − 1) is accepted once; seqs beyond are refused by accept', (t) => {
  for (const mode of ['window', 'increasing'] as const) {
    const w = new ReplayWindow(mode);
    t.is(w.check(2 ** 48 - 1), null);
    t.true(w.accept(2 ** 48 - 1));
    t.is(w.check(2 ** 48 - 1), 'duplicate');
    t.is(w.check(2 ** 48 - 2), mode === 'window' ? null : 'too-old');
    t.is(w.gaps, 2 ** 48 - 1);
  }
  t.throws(() => new ReplayWindow().accept(2 ** 48), { instanceOf: RangeError });
});

test('increasing: late records are too old, equal ones duplicates, gaps are counted', (t) => {
  const w = new ReplayWindow('increasing');
  t.true(w.accept(0));
  t.true(w.accept(5));
  t.is(w.check(3), 'too-old');
  t.is(w.check(5), 'duplicate');
  t.is(w.check(6), null);
  t.is(w.gaps, 4);
});

test('sequential: only the next seq; a gap is out of sequence and stops the flow', (t) => {
  const w = new ReplayWindow('sequential');
  t.is(w.check(1), 'out-of-sequence');
  t.is(w.check(0), null);
  w.accept(0);
  w.accept(1);
  t.is(w.check(1), 'duplicate');
  t.is(w.check(0), 'too-old');
  t.is(w.check(3), 'out-of-sequence');
  t.is(w.check(2), null);
  t.is(w.gaps, 0);
});

test('check() alone never changes the window', (t) => {
  const w = new ReplayWindow('window', 1024);
  w.accept(10);
  for (const s of [0, 5, 10, 11, 5000, 2 ** 48 - 1]) w.check(s);
  t.is(w.top, 10);
  t.is(w.gaps, 10);
  t.is(w.check(5), null);
  t.is(w.check(11), null);
});

test('window sizes and modes are validated', (t) => {
  for (const size of [1023, 1000, 1025, 65_568, 0, -1024]) {
    t.throws(() => new ReplayWindow('window', size), { instanceOf: RangeError }, String(size));
  }
  t.throws(() => new ReplayWindow('window', 1024.5), { instanceOf: TypeError });
  t.throws(() => new ReplayWindow('bogus' as ReplayMode), {
    instanceOf: TypeError,
    message: /window, increasing, sequential/,
  });
  t.is(new ReplayWindow('window', 65_536).size, 65_536);
  t.is(new ReplayWindow().size, 2048);
  t.is(new ReplayWindow('increasing', 7).size, 0, 'no bitmap (and no size check) outside window mode');
});

test('window: a jump within W frees the slots of the seqs that left, whole words included', (t) => {
  for (const size of [1024, 1056]) {
    for (const jump of [1, 31, 32, 33, 64, 500, size - 1]) {
      const w = new ReplayWindow('window', size);
      for (let s = 0; s < size; s++) w.accept(s); // every slot set
      const top = size - 1 + jump;
      w.accept(top);
      for (let s = size; s < top; s++) {
        if (w.check(s) !== null) return t.fail(`W ${size}, jump ${jump}: seq ${s} was never seen`);
      }
      for (let s = top - size + 1; s < size; s++) {
        if (w.check(s) !== 'duplicate') return t.fail(`W ${size}, jump ${jump}: seq ${s} was seen`);
      }
    }
  }
  t.pass();
});
