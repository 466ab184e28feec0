/**
 * The datagram record layer (PROTOCOL.md §D4–§D6) through its public halves:
 * DatagramOutbound / DatagramInbound / datagramContexts. Every suite; tampering with every
 * byte; rejections that change nothing; epochs, grace and budgets on an injected clock and
 * lowered limits; the CommSec-style encode/decode API.
 */
import { Buffer } from 'node:buffer';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  DatagramInbound,
  DatagramOutbound,
  DatagramRecordError,
  datagramContexts,
} from '../src/protocol/datagram/contexts.js';
import type { DatagramContextOptions, OpenResult } from '../src/protocol/datagram/contexts.js';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';
import { peekRecordHeader } from '../src/protocol/datagram/record-codec.js';
import { ErrorCode, SessionError } from '../src/protocol/errors.js';
import { ALL_SUITES, resolveSuite } from '../src/protocol/suite.js';
import type { AlgorithmSet } from '../src/protocol/suite.js';

const SECRET = Buffer.alloc(32, 0x5a);
const CBC: AlgorithmSet = {};
const GCM: AlgorithmSet = { symmetric: 'AES-256-GCM' };
const MODES = [
  ['CBC', CBC],
  ['GCM', GCM],
] as const;

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1000;
  return { now: () => time, advance: (ms) => (time += ms) };
}

function pair(options: DatagramContextOptions = {}): { out: DatagramOutbound; in: DatagramInbound } {
  const client = datagramContexts(SECRET, 'client', options);
  const server = datagramContexts(SECRET, 'server', options);
  return { out: client.outbound, in: server.inbound };
}

function opened(
  t: ExecutionContext,
  result: OpenResult,
  message?: string,
): Extract<OpenResult, { ok: true }> {
  if (!result.ok) {
    t.fail(`${message ?? 'record'} rejected: ${result.reason}`);
    throw new Error('rejected');
  }
  return result;
}

function rejected(t: ExecutionContext, result: OpenResult, reason: string, message?: string): void {
  t.deepEqual(result, { ok: false, reason }, message);
}

/** The inbound's observable state, to show a rejection left it alone. */
function snapshot(inbound: DatagramInbound): { epoch: number; opened: number; gaps: number } {
  return { epoch: inbound.epoch, opened: inbound.counters.opened, gaps: inbound.counters.gaps };
}

for (const suite of ALL_SUITES) {
  const set = { symmetric: suite.symmetric, hash: suite.hash };
  test(`${suite.symmetric}/${suite.hash}: records of every size open, with §D4's packet size`, (t) => {
    const { out, in: inbound } = pair({ set });
    const sizes = [0, 1, 14, 15, 16, 17, 31, 32, 100, 1117, 1118, 1163, 1164, 60_000];
    for (const p of sizes) {
      const payload = Buffer.alloc(p, p & 0xff);
      const packet = out.seal(DatagramRecordType.Ping, payload);
      const expected =
        suite.mode === 'aead'
          ? 19 + 1 + p + 16
          : 19 + 16 + 16 * (Math.floor((1 + p) / 16) + 1) + suite.hashLength;
      t.is(packet.length, expected, `size of a ${p}-byte payload`);
      t.is(out.packetSize(p), expected);
      const r = opened(t, inbound.open(packet), `${p} bytes`);
      t.is(r.type, DatagramRecordType.Ping);
      t.deepEqual(r.payload, payload);
    }
    t.is(inbound.counters.opened, sizes.length);
    // A large record (its tag is checked in place, not on a copy) tampered anywhere.
    const large = out.encode(Buffer.alloc(30_000, 7));
    for (const at of [19, 20, 15_000, large.length - suite.tagLength - 1, large.length - 1]) {
      const bad = Buffer.from(large);
      bad[at]! ^= 0x10;
      rejected(t, inbound.open(bad), 'auth', `byte ${at} of a large record`);
    }
    opened(t, inbound.open(large));
    for (const d of [1200, 1201, 1215, 1216, 1500]) {
      const max = out.maxPayload(d);
      t.true(out.packetSize(max) <= d, `max payload fits ${d}`);
      t.true(out.packetSize(max + 1) > d, `one more byte does not fit ${d}`);
    }
  });
}

for (const [name, set] of MODES) {
  test(`${name}: every byte of a packet changed is rejected, and the original still opens after`, (t) => {
    const { out, in: inbound } = pair({ set });
    const packet = out.encode(Buffer.from('the quick brown fox jumps over'));
    for (let i = 0; i < packet.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(packet);
        bad[i]! ^= flip;
        const r = inbound.open(bad);
        // The header fields have their own cheaper checks; anything they let through meets the tag.
        const expected =
          i === 0
            ? ['malformed']
            : i <= 8
              ? ['connection']
              : i <= 12
                ? bad.readUInt32BE(9) >= 1 && bad.readUInt32BE(9) <= 4
                  ? ['auth'] // names E + 1 … E + 4: their keys are derived, and the tag fails under them
                  : ['epoch']
                : ['auth'];
        if (r.ok || !expected.includes(r.reason)) {
          return t.fail(`byte ${i} ^ ${flip}: ${r.ok ? 'opened' : r.reason}`);
        }
      }
    }
    t.is(inbound.epoch, 0, 'a forged packet naming E + 1 did not move the epoch');
    t.is(inbound.counters.opened, 0);
    t.deepEqual(opened(t, inbound.open(packet)).payload, Buffer.from('the quick brown fox jumps over'));
    t.is(inbound.counters.received, packet.length * 3 + 1);
    t.is(
      inbound.counters.malformed +
        inbound.counters.foreign +
        inbound.counters.staleEpoch +
        inbound.counters.authFailures,
      packet.length * 3,
    );
  });

  test(`${name}: a packet cut short, grown, or re-headed as another seq or epoch does not open`, (t) => {
    const { out, in: inbound } = pair({ set });
    const a = out.encode(Buffer.from('first'));
    const b = out.encode(Buffer.from('second'));
    // CBC: a length off the block grid fails the shape check; GCM has no grid and meets the tag.
    const offGrid = name === 'CBC' ? 'malformed' : 'auth';
    rejected(t, inbound.open(a.subarray(0, a.length - 1)), offGrid);
    rejected(t, inbound.open(Buffer.concat([a, Buffer.alloc(1)])), offGrid);
    rejected(t, inbound.open(Buffer.concat([a, Buffer.alloc(16)])), 'auth');
    const long = out.encode(Buffer.alloc(40));
    rejected(t, inbound.open(Buffer.concat([long.subarray(0, 19 + 16), long.subarray(19 + 32)])), 'auth');
    // b's body under a's header (seq 0) and the reverse: the tag covers the header.
    const swapped = Buffer.concat([a.subarray(0, 19), b.subarray(19)]);
    rejected(t, inbound.open(swapped), 'auth');
    rejected(t, inbound.open(Buffer.concat([b.subarray(0, 19), a.subarray(19)])), 'auth');
    rejected(t, inbound.open(Buffer.alloc(18, 0x47)), 'malformed');
    rejected(t, inbound.open(Buffer.alloc(65_508, 0x47)), 'malformed');
    rejected(t, inbound.open(Buffer.alloc(0)), 'malformed');
    opened(t, inbound.open(b));
    opened(t, inbound.open(a));
  });

  test(`${name}: a record opens once; the replay window rejects duplicates and records too old`, (t) => {
    const { out, in: inbound } = pair({ set, window: 1024 });
    const packets = Array.from({ length: 1100 }, (_, i) => out.encode(Buffer.from(String(i))));
    t.true(opened(t, inbound.open(packets[5]!)).advanced);
    t.is(inbound.counters.gaps, 5);
    const late = opened(t, inbound.open(packets[2]!));
    t.false(late.advanced, 'a reordered record does not advance the window');
    t.is(late.seq, 2);
    rejected(t, inbound.open(packets[5]!), 'duplicate');
    rejected(t, inbound.open(packets[2]!), 'duplicate');
    opened(t, inbound.open(packets[1099]!));
    rejected(t, inbound.open(packets[75]!), 'too-old');
    opened(t, inbound.open(packets[76]!));
    t.like(inbound.counters, { opened: 4, duplicates: 2, tooOld: 1, gaps: 1098 });
  });

  test(`${name}: a forged packet changes nothing: window, epoch and counts of accepted records stay`, (t) => {
    const { out, in: inbound } = pair({ set });
    const packets = Array.from({ length: 4 }, () => out.encode(Buffer.from('x')));
    opened(t, inbound.open(packets[0]!));
    const before = snapshot(inbound);
    // A forged packet far ahead (seq 2^40) and one naming the next epoch.
    const far = Buffer.from(packets[1]!);
    far[13] = 0x01;
    rejected(t, inbound.open(far), 'auth');
    const nextEpoch = Buffer.from(packets[1]!);
    nextEpoch.writeUInt32BE(1, 9);
    rejected(t, inbound.open(nextEpoch), 'auth');
    t.deepEqual(snapshot(inbound), before);
    // Had the forged seq moved the window, these would be too old; had it counted, gaps would show it.
    const r = opened(t, inbound.open(packets[3]!));
    t.true(r.advanced);
    t.is(inbound.counters.gaps, 2);
    opened(t, inbound.open(packets[1]!));
  });

  test(`${name}: another session's conn_id is rejected as 'connection'`, (t) => {
    const id = Buffer.from('0123456789abcdef', 'hex');
    const mine = datagramContexts(SECRET, 'server', { set, connectionId: id });
    const other = datagramContexts(SECRET, 'client', { set, connectionId: Buffer.alloc(8, 1) });
    const same = datagramContexts(SECRET, 'client', { set, connectionId: id });
    rejected(t, mine.inbound.open(other.outbound.encode(Buffer.from('x'))), 'connection');
    t.is(mine.inbound.counters.foreign, 1);
    const packet = same.outbound.encode(Buffer.from('x'));
    t.deepEqual(peekRecordHeader(packet), { connectionId: id, epoch: 0, seq: 0 });
    t.deepEqual(mine.inbound.decode(packet), Buffer.from('x'));
    t.deepEqual(mine.inbound.connectionId, id);
    t.deepEqual(same.outbound.connectionId, id);
  });

  test(`${name}: each direction has its own keys; a side cannot open its own records`, (t) => {
    const client = datagramContexts(SECRET, 'client', { set });
    const server = datagramContexts(SECRET, 'server', { set });
    rejected(t, client.inbound.open(client.outbound.encode(Buffer.from('x'))), 'auth');
    rejected(t, server.inbound.open(server.outbound.encode(Buffer.from('x'))), 'auth');
    opened(t, client.inbound.open(server.outbound.encode(Buffer.from('y'))));
    const otherSecret = datagramContexts(Buffer.alloc(32, 1), 'client', { set });
    rejected(t, server.inbound.open(otherSecret.outbound.encode(Buffer.from('z'))), 'auth');
  });

  test(`${name}: the sender moves epoch after rekeyAfterRecords; the receiver follows and keeps E − 1 for the grace`, (t) => {
    const c = clock();
    const { out, in: inbound } = pair({ set, rekeyAfterRecords: 3, epochGrace: 5000, now: c.now });
    const packets = Array.from({ length: 9 }, () => out.encode(Buffer.from('m')));
    t.deepEqual(
      packets.map((p) => peekRecordHeader(p)).map((h) => [h!.epoch, h!.seq]),
      [
        [0, 0],
        [0, 1],
        [0, 2],
        [1, 0],
        [1, 1],
        [1, 2],
        [2, 0],
        [2, 1],
        [2, 2],
      ],
    );
    opened(t, inbound.open(packets[0]!));
    t.true(opened(t, inbound.open(packets[4]!)).advanced, 'the first record of E + 1 moves');
    t.is(inbound.epoch, 1);
    // Epoch 0's records still open during the grace, against epoch 0's own window.
    const late = opened(t, inbound.open(packets[1]!));
    t.is(late.epoch, 0);
    t.false(late.advanced, 'a record of the previous epoch never moves a session');
    rejected(t, inbound.open(packets[0]!), 'duplicate');
    // E + 5 is not accepted while E is 1 (§D5: at most E + 4).
    let e6 = out.encode(Buffer.from('m'));
    while (peekRecordHeader(e6)!.epoch < 6) e6 = out.encode(Buffer.from('m'));
    t.is(peekRecordHeader(e6)!.epoch, 6);
    rejected(t, inbound.open(e6), 'epoch');
    c.advance(4999);
    opened(t, inbound.open(packets[2]!));
    c.advance(1);
    // The grace is over: epoch 0's keys are gone, its records are 'epoch' now.
    rejected(t, inbound.open(Buffer.from(packets[2]!)), 'epoch');
    opened(t, inbound.open(packets[6]!));
    t.is(inbound.epoch, 2);
    opened(t, inbound.open(packets[3]!), 'epoch 1 is now the previous one, in its grace');
    rejected(t, inbound.open(packets[1]!), 'epoch', 'epoch 0 was forgotten at the move to 2');
    t.is(inbound.counters.staleEpoch, 3);
  });

  test(`${name}: the sender moves epoch after rekeyAfterBytes and after rekeyInterval`, (t) => {
    const c = clock();
    const { out, in: inbound } = pair({ set, rekeyAfterBytes: 100, rekeyInterval: 60_000, now: c.now });
    const seen: [number, number][] = [];
    const send = (n: number): void => {
      const p = out.encode(Buffer.alloc(n));
      const h = peekRecordHeader(p)!;
      seen.push([h.epoch, h.seq]);
      opened(t, inbound.open(p));
    };
    send(60);
    send(39); // 99 bytes: under the budget
    send(1); // still epoch 0: the budget is checked before sealing; 100 now
    send(0); // moves
    c.advance(59_999);
    send(0);
    c.advance(1);
    t.is(out.epoch, 1, 'the move happens at the next seal, not before');
    send(0);
    t.deepEqual(seen, [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [2, 0],
    ]);
    t.is(out.epoch, 2);
    t.is(out.seq, 1);
    t.is(inbound.epoch, 2);
  });

  test(`${name}: a receiver cuts off a peer that ignores its budget ('exhausted'), per epoch`, (t) => {
    const client = datagramContexts(SECRET, 'client', { set, rekeyAfterRecords: 6 });
    const server = datagramContexts(SECRET, 'server', {
      set,
      receiveRecordCutoff: 4,
      receiveByteCutoff: 1000,
    });
    const packets = Array.from({ length: 8 }, () => client.outbound.encode(Buffer.from('m')));
    for (const p of packets.slice(0, 4)) opened(t, server.inbound.open(p));
    rejected(t, server.inbound.open(packets[4]!), 'exhausted');
    // Only the peer can be cut off: a forgery naming the spent epoch fails as forged
    // (checked after authentication), so it cannot end the session for the peer.
    const forged = Buffer.from(packets[5]!);
    forged[forged.length - 1]! ^= 1;
    rejected(t, server.inbound.open(forged), 'auth');
    rejected(t, server.inbound.open(packets[5]!), 'exhausted');
    t.is(server.inbound.counters.exhausted, 2);
    // A new epoch has its own count.
    opened(t, server.inbound.open(packets[6]!));
    t.is(server.inbound.epoch, 1);
    t.throws(() => server.inbound.decode(packets[4]!), {
      instanceOf: DatagramRecordError,
      code: ErrorCode.KEY_EXHAUSTED,
    });

    const bytes = datagramContexts(SECRET, 'server', { set, receiveByteCutoff: 10 });
    const sender = datagramContexts(SECRET, 'client', { set }).outbound;
    opened(t, bytes.inbound.open(sender.encode(Buffer.alloc(9))));
    opened(t, bytes.inbound.open(sender.encode(Buffer.alloc(9))));
    rejected(t, bytes.inbound.open(sender.encode(Buffer.alloc(0))), 'exhausted');
  });

  test(`${name}: increasing and sequential modes through the inbound`, (t) => {
    const inc = pair({ set, replay: 'increasing' });
    const p = Array.from({ length: 4 }, () => inc.out.encode(Buffer.from('m')));
    opened(t, inc.in.open(p[2]!));
    rejected(t, inc.in.open(p[1]!), 'too-old');
    opened(t, inc.in.open(p[3]!));
    t.like(inc.in.counters, { tooOld: 1, gaps: 2 });

    const seq = pair({ set, replay: 'sequential' });
    const q = Array.from({ length: 4 }, () => seq.out.encode(Buffer.from('m')));
    rejected(t, seq.in.open(q[1]!), 'out-of-sequence');
    opened(t, seq.in.open(q[0]!));
    opened(t, seq.in.open(q[1]!));
    rejected(t, seq.in.open(q[3]!), 'out-of-sequence');
    t.throws(() => seq.in.decode(q[3]!), {
      instanceOf: DatagramRecordError,
      code: ErrorCode.REPLAY,
      message: /replayed/,
    });
    t.is(seq.in.counters.outOfSequence, 3, 'decode counts too');
  });

  test(`${name}: encode/decode: messages out, DatagramRecordError with a reason and a code for rejections`, (t) => {
    const { out, in: inbound } = pair({ set });
    const m = out.encode(Buffer.from('hello'));
    t.deepEqual(inbound.decode(m), Buffer.from('hello'));
    const dup = t.throws(() => inbound.decode(m), {
      instanceOf: DatagramRecordError,
      code: ErrorCode.REPLAY,
    });
    t.is(dup.reason, 'duplicate');
    const forged = Buffer.from(out.encode(Buffer.from('x')));
    forged[forged.length - 1]! ^= 1;
    const auth = t.throws(() => inbound.decode(forged), {
      instanceOf: DatagramRecordError,
      code: ErrorCode.RECORD_AUTH,
      message: 'record rejected: authentication failed',
    });
    t.is(auth.reason, 'auth');
    t.throws(() => inbound.decode(Buffer.alloc(3)), {
      code: ErrorCode.RECORD_AUTH,
      message: 'record rejected: authentication failed',
    });
    // A record that opens but is not Data has been accepted: decode reports the protocol break.
    const ping = out.seal(DatagramRecordType.Ping, Buffer.alloc(0));
    t.throws(() => inbound.decode(ping), { instanceOf: SessionError, code: ErrorCode.PROTOCOL });
    rejected(t, inbound.open(ping), 'duplicate');
    t.deepEqual(inbound.decode(out.encode(Buffer.alloc(0))), Buffer.alloc(0), 'an empty message');
  });

  test(`${name}: reopenDuplicate authenticates a duplicate and changes nothing`, (t) => {
    const { out, in: inbound } = pair({ set });
    const cf = out.seal(DatagramRecordType.ClientFinished, Buffer.from([0]));
    const fresh = out.encode(Buffer.from('fresh'));
    t.false(inbound.reopenDuplicate(cf), 'not yet seen: not a duplicate');
    opened(t, inbound.open(cf));
    const counters = { ...inbound.counters };
    t.true(inbound.reopenDuplicate(cf));
    t.true(inbound.reopenDuplicate(cf), 'as often as asked: the caller bounds the answers');
    const forged = Buffer.from(cf);
    forged[25]! ^= 1;
    t.false(inbound.reopenDuplicate(forged), 'a forged duplicate does not authenticate');
    t.false(inbound.reopenDuplicate(fresh), 'a fresh record is not a duplicate');
    t.deepEqual({ ...inbound.counters }, counters, 'no count moved');
    opened(t, inbound.open(fresh), 'and the fresh record was not consumed');
  });

  test(`${name}: release() frees the cipher contexts of an idle session; records go on after it`, (t) => {
    const c = clock();
    const { out, in: inbound } = pair({ set, rekeyAfterRecords: 2, now: c.now });
    for (let i = 0; i < 5; i++) {
      const p = out.encode(Buffer.from(`m${i}`));
      out.release();
      inbound.release();
      t.deepEqual(inbound.decode(p), Buffer.from(`m${i}`));
      out.release();
      inbound.release();
    }
    t.is(inbound.epoch, 2);
  });

  test(`${name}: destroy() wipes the keys; the halves then refuse work`, (t) => {
    const { out, in: inbound } = pair({ set });
    const p = out.encode(Buffer.from('x'));
    out.destroy();
    out.destroy();
    t.throws(() => out.encode(Buffer.from('x')), { instanceOf: SessionError, code: ErrorCode.INVALID_STATE });
    inbound.destroy();
    t.throws(() => inbound.open(p), { instanceOf: SessionError, code: ErrorCode.INVALID_STATE });
    t.false(inbound.reopenDuplicate(p));
  });
}

test('records of a GCM and a CBC suite do not open under each other, nor across hashes', (t) => {
  const gcm = datagramContexts(SECRET, 'client', { set: GCM }).outbound;
  const cbc = datagramContexts(SECRET, 'client', { set: CBC }).outbound;
  const cbc384 = datagramContexts(SECRET, 'client', { set: { hash: 'SHA-384' } }).outbound;
  const inCbc = datagramContexts(SECRET, 'server', { set: CBC }).inbound;
  const inGcm = datagramContexts(SECRET, 'server', { set: GCM }).inbound;
  const r = inCbc.open(gcm.encode(Buffer.alloc(64)));
  t.false(r.ok);
  t.false(inGcm.open(cbc.encode(Buffer.alloc(15))).ok);
  t.false(inCbc.open(cbc384.encode(Buffer.alloc(15))).ok);
});

test('a record too large for any UDP datagram is refused before sealing', (t) => {
  const { out } = pair();
  const max = out.maxPayload(65_507);
  t.is(out.maxPayload(100_000), max, 'no payload larger than UDP carries');
  t.notThrows(() => out.encode(Buffer.alloc(max)));
  t.throws(() => out.encode(Buffer.alloc(max + 16)), {
    instanceOf: SessionError,
    code: ErrorCode.MESSAGE_TOO_LARGE,
  });
  t.is(out.seq, 1, 'the refused record took no seq');
  t.throws(() => out.seal(256, Buffer.alloc(0)), { instanceOf: RangeError });
  t.throws(() => out.encode('text' as unknown as Buffer), { instanceOf: TypeError });
  t.throws(() => pair().in.open('text' as unknown as Buffer), { instanceOf: TypeError });
  t.is(out.seq, 1, 'nothing refused took a seq');
  t.throws(() => out.maxPayload(50), { instanceOf: RangeError });
});

test('options and secrets are validated', (t) => {
  const suite = resolveSuite();
  const T0 = Buffer.alloc(suite.hashLength, 1);
  t.throws(() => new DatagramOutbound(Buffer.alloc(31)), { instanceOf: RangeError, message: /32 bytes/ });
  t.throws(() => new DatagramInbound(Buffer.alloc(48)), { instanceOf: RangeError });
  t.notThrows(() => new DatagramInbound(Buffer.alloc(48), { set: { hash: 'SHA-384' } }));
  t.throws(() => datagramContexts(Buffer.alloc(31), 'client'), {
    instanceOf: RangeError,
    message: /at least 32/,
  });
  t.notThrows(() => datagramContexts(Buffer.alloc(100), 'server'));
  t.throws(() => datagramContexts(SECRET, 'peer' as 'client'), { instanceOf: TypeError });
  const bad: [DatagramContextOptions, ErrorConstructor][] = [
    [{ connectionId: Buffer.alloc(7) }, RangeError],
    [{ connectionId: 'abcdefgh' as unknown as Buffer }, TypeError],
    [{ window: 1000 }, RangeError],
    [{ replay: 'fifo' as 'window' }, TypeError],
    [{ rekeyAfterRecords: 0 }, RangeError],
    [{ rekeyAfterRecords: 2 ** 24 + 1 }, RangeError],
    [{ rekeyAfterRecords: 1.5 }, TypeError],
    [{ rekeyAfterBytes: 2 ** 32 + 1 }, RangeError],
    [{ rekeyInterval: 600_001 }, RangeError],
    [{ rekeyInterval: 0 }, RangeError],
    [{ epochGrace: -1 }, RangeError],
    [{ now: 5 as unknown as () => number }, TypeError],
    [{ set: { symmetric: 'DES' as 'AES-256-CBC' } }, TypeError],
  ];
  for (const [options, kind] of bad) {
    t.throws(() => new DatagramOutbound(T0, options), { instanceOf: kind }, JSON.stringify(options));
  }
  // The caller's secret is copied, not taken: it can seed both halves of a test pair.
  const secret = Buffer.from(SECRET);
  datagramContexts(secret, 'client');
  t.deepEqual(secret, SECRET);
  const own = Buffer.from(T0);
  new DatagramOutbound(own).destroy();
  t.deepEqual(own, T0);
});

test('@secsess/sdk/core carries the datagram record layer', async (t) => {
  const core = await import('@secsess/sdk/core');
  const client = core.datagramContexts(SECRET, 'client', { set: { symmetric: core.Symmetric.AES256GCM } });
  const server = core.datagramContexts(SECRET, 'server', { set: { symmetric: core.Symmetric.AES256GCM } });
  t.deepEqual(
    server.inbound.decode(client.outbound.encode(Buffer.from('over the core'))),
    Buffer.from('over the core'),
  );
  const ping = server.outbound.seal(core.DatagramRecordTypes.Ping, Buffer.from('p'));
  t.like(client.inbound.open(ping), { ok: true, type: 0x05, epoch: 0, seq: 0, advanced: true });
  t.like(core.peekRecordHeader(ping), { epoch: 0, seq: 0 });
  t.throws(() => client.inbound.decode(ping), {
    instanceOf: core.DatagramRecordError,
    code: core.ErrorCode.REPLAY,
  });
  t.is(new core.ReplayWindow().check(0), null);
});
