/**
 * Epochs whose every record was lost (PROTOCOL.md §D4 step 3, §D5): a receiver in epoch E
 * accepts records of E + 1 … E + MAX_EPOCH_SKIP, derives the skipped epochs' keys at most
 * once each per epoch it is in, and moves only on a record that authenticates; the epochs
 * it skipped are forgotten, E is kept for the grace.
 */
import { Buffer } from 'node:buffer';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { datagramContexts } from '../src/protocol/datagram/contexts.js';
import type {
  DatagramContextOptions,
  DatagramInbound,
  OpenResult,
} from '../src/protocol/datagram/contexts.js';
import { MAX_EPOCH_SKIP } from '../src/protocol/datagram/constants.js';
import type { AlgorithmSet } from '../src/protocol/suite.js';

const SECRET = Buffer.alloc(32, 0x5a);
const MODES = [
  ['CBC', {}],
  ['GCM', { symmetric: 'AES-256-GCM' }],
] as const satisfies readonly (readonly [string, AlgorithmSet])[];
/** Records per epoch the sender seals (its rekeyAfterRecords). */
const PER_EPOCH = 3;

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

/**
 * A receiver and the packets its peer sealed, `packets[e][s]` being epoch e, seq s, for
 * epochs 0 … `epochs` − 1 (none is given to the receiver yet).
 */
function setup(
  set: AlgorithmSet,
  epochs: number,
  extra: DatagramContextOptions = {},
): { inbound: DatagramInbound; packets: Buffer[][] } {
  const options = { set, rekeyAfterRecords: PER_EPOCH, ...extra };
  const out = datagramContexts(SECRET, 'client', options).outbound;
  const inbound = datagramContexts(SECRET, 'server', options).inbound;
  const packets = Array.from({ length: epochs }, (_, e) =>
    Array.from({ length: PER_EPOCH }, (_, s) => out.encode(Buffer.from(`${e}.${s}`))),
  );
  return { inbound, packets };
}

function opened(t: ExecutionContext, result: OpenResult, what: string): Extract<OpenResult, { ok: true }> {
  if (!result.ok) {
    t.fail(`${what} rejected: ${result.reason}`);
    throw new Error('rejected');
  }
  t.is(String(result.payload), what);
  return result;
}

function rejected(t: ExecutionContext, result: OpenResult, reason: string, message?: string): void {
  t.deepEqual(result, { ok: false, reason }, message);
}

/** A copy of `packet` re-headed to name another epoch (and seq): a forgery. */
function forge(packet: Buffer, epoch: number, seq?: number): Buffer {
  const bad = Buffer.from(packet);
  bad.writeUInt32BE(epoch, 9);
  if (seq !== undefined) bad.writeUIntBE(seq, 13, 6);
  return bad;
}

test('MAX_EPOCH_SKIP is 4 (§D4 step 3)', (t) => {
  t.is(MAX_EPOCH_SKIP, 4);
});

for (const [name, set] of MODES) {
  test(`${name}: every record of one epoch lost, then of three in a row: the next epoch opens each time`, (t) => {
    const { inbound, packets } = setup(set, 8);
    opened(t, inbound.open(packets[0]![0]!), '0.0');
    opened(t, inbound.open(packets[0]![1]!), '0.1');
    // Epoch 1 is lost whole: the first record of epoch 2 (E + 2) opens and moves.
    const r = opened(t, inbound.open(packets[2]![0]!), '2.0');
    t.true(r.advanced, 'the first record of the epoch moves the receiver, and a session with it (§D7)');
    t.is(r.epoch, 2);
    t.is(inbound.epoch, 2);
    opened(t, inbound.open(packets[2]![2]!), '2.2');
    // Epochs 3, 4 and 5 are lost whole: epoch 6 (E + 4) opens.
    t.is(opened(t, inbound.open(packets[6]![1]!), '6.1').epoch, 6);
    t.is(inbound.epoch, 6);
    opened(t, inbound.open(packets[6]![0]!), '6.0');
    opened(t, inbound.open(packets[2]![1]!), '2.1'); // the previous epoch, in its grace
    opened(t, inbound.open(packets[7]![0]!), '7.0');
    t.like(inbound.counters, { opened: 8, staleEpoch: 0, authFailures: 0 });
  });

  test(`${name}: E + 4 is the farthest: after four epochs lost in a row a record of E + 5 is 'epoch'`, (t) => {
    const { inbound, packets } = setup(set, 7);
    opened(t, inbound.open(packets[0]![0]!), '0.0');
    rejected(t, inbound.open(packets[5]![0]!), 'epoch', 'E + 5');
    rejected(t, inbound.open(packets[6]![0]!), 'epoch', 'E + 6');
    t.is(inbound.derivedEpochs, 0, "an epoch beyond E + 4 costs no derivation: it is 'epoch' on its header");
    t.is(inbound.epoch, 0);
    t.like(inbound.counters, { opened: 1, staleEpoch: 2 });
    // E + 4 opens; E + 5 of before is now E + 1 of the receiver.
    opened(t, inbound.open(packets[4]![0]!), '4.0');
    t.is(inbound.epoch, 4);
    opened(t, inbound.open(packets[5]![0]!), '5.0');
    t.is(inbound.epoch, 5);
  });

  test(`${name}: forged packets naming E + 1 … E + 4 cost at most 4 derivations and change nothing`, (t) => {
    const { inbound, packets } = setup(set, 6);
    opened(t, inbound.open(packets[0]![0]!), '0.0');
    const before = { epoch: inbound.epoch, opened: inbound.counters.opened, gaps: inbound.counters.gaps };
    const template = packets[0]![1]!;
    let forged = 0;
    for (let round = 0; round < 25; round++) {
      for (const epoch of [4, 2, 3, 1]) {
        // Far-ahead seqs too: had one moved its epoch's window, the genuine records below would be too old.
        rejected(t, inbound.open(forge(template, epoch, round * 100_000)), 'auth', `forged epoch ${epoch}`);
        forged += 1;
      }
      rejected(t, inbound.open(forge(template, 5)), 'epoch', 'forged E + 5');
    }
    t.is(inbound.derivedEpochs, 4, 'each of E + 1 … E + 4 derived once, then one tag check per packet');
    t.deepEqual(
      { epoch: inbound.epoch, opened: inbound.counters.opened, gaps: inbound.counters.gaps },
      before,
    );
    t.is(inbound.counters.authFailures, forged);
    // A genuine record of E + 1 still opens and moves; its window was not touched.
    t.true(opened(t, inbound.open(packets[1]![0]!), '1.0').advanced);
    t.is(inbound.epoch, 1);
    t.is(inbound.counters.gaps, 0, 'no forged seq reached a window');
    opened(t, inbound.open(packets[1]![1]!), '1.1');
    opened(t, inbound.open(packets[0]![1]!), '0.1'); // epoch 0's window: 0.1 is new, 0.0 seen
    rejected(t, inbound.open(packets[0]![0]!), 'duplicate');
    // The keys derived while E was 0 (2, 3, 4) stay ahead; now E + 4 is 5: one more derivation.
    for (const epoch of [2, 3, 4, 5]) rejected(t, inbound.open(forge(template, epoch)), 'auth');
    t.is(inbound.derivedEpochs, 5, 'at most 4 per epoch the receiver has been in');
    // The kept keys are the right ones: a genuine record of 3 (E + 2) opens under them.
    opened(t, inbound.open(packets[3]![0]!), '3.0');
    t.is(inbound.epoch, 3);
    t.is(inbound.derivedEpochs, 5);
  });

  test(`${name}: after a move to E + 3, E is the previous epoch for the grace; E + 1 and E + 2 are 'epoch'`, (t) => {
    const c = clock();
    const { inbound, packets } = setup(set, 5, { epochGrace: 5000, now: c.now });
    opened(t, inbound.open(packets[0]![0]!), '0.0');
    // Forged packets made the receiver derive 1 and 2; the skip must wipe them all the same.
    rejected(t, inbound.open(forge(packets[0]![1]!, 2)), 'auth');
    opened(t, inbound.open(packets[3]![0]!), '3.0');
    t.is(inbound.epoch, 3);
    const late = opened(t, inbound.open(packets[0]![1]!), '0.1');
    t.is(late.epoch, 0);
    t.false(late.advanced, 'a record of the previous epoch never moves a session');
    rejected(t, inbound.open(packets[0]![0]!), 'duplicate', "epoch 0's own window");
    t.true(inbound.reopenDuplicate(packets[0]![0]!), 'a duplicate of the previous epoch still authenticates');
    rejected(t, inbound.open(packets[1]![0]!), 'epoch', 'skipped epoch 1 is forgotten');
    rejected(t, inbound.open(packets[2]![2]!), 'epoch', 'skipped epoch 2 is forgotten');
    t.false(inbound.reopenDuplicate(packets[2]![2]!));
    c.advance(4999);
    opened(t, inbound.open(packets[0]![2]!), '0.2');
    c.advance(1);
    rejected(t, inbound.open(packets[0]![1]!), 'epoch', 'the grace is over');
    opened(t, inbound.open(packets[4]![0]!), '4.0');
    t.like(inbound.counters, { opened: 5, staleEpoch: 3, duplicates: 1 });
  });

  test(`${name}: a late record of E − 1 after two moves is 'epoch', within the grace's time too`, (t) => {
    const { inbound, packets } = setup(set, 6);
    opened(t, inbound.open(packets[0]![0]!), '0.0');
    opened(t, inbound.open(packets[2]![0]!), '2.0');
    opened(t, inbound.open(packets[5]![0]!), '5.0');
    t.is(inbound.epoch, 5);
    rejected(t, inbound.open(packets[0]![1]!), 'epoch', 'epoch 0 was forgotten at the move to 5');
    rejected(t, inbound.open(packets[3]![0]!), 'epoch');
    rejected(t, inbound.open(packets[4]![0]!), 'epoch');
    opened(t, inbound.open(packets[2]![1]!), '2.1'); // epoch 2 is the previous one
  });

  test(`${name}: release() and destroy() cover the epochs derived ahead`, (t) => {
    const { inbound, packets } = setup(set, 5);
    rejected(t, inbound.open(forge(packets[0]![0]!, 4)), 'auth');
    t.is(inbound.derivedEpochs, 4);
    inbound.release();
    // Released contexts are remade on use; nothing is derived again.
    opened(t, inbound.open(packets[2]![0]!), '2.0');
    t.is(inbound.derivedEpochs, 4);
    inbound.release();
    opened(t, inbound.open(packets[4]![0]!), '4.0');
    t.is(inbound.derivedEpochs, 4);
    inbound.destroy();
    t.throws(() => inbound.open(packets[4]![1]!), { message: /destroy/ });
  });
}
