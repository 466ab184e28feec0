/**
 * Every "must" and "refuses" of PROTOCOL.md §1 and §5 on the receiving side of an open
 * session, each asserting the coded error (and, where one is sent, the alert the peer sees).
 * Records are sealed with the sender's own state (helpers/forge.ts), so only the rule under
 * test is broken.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import { ALL_SUITES, ErrorCode, SessionError } from '../src/protocol/index.js';
import type { Suite } from '../src/protocol/index.js';
import { RecordType } from '../src/protocol/constants.js';
import { forgeCbc, seal } from './helpers/forge.js';
import type { Conn } from './helpers/forge.js';
import { openPair } from './helpers/protocol-pair.js';
import type { Pair } from './helpers/protocol-pair.js';

const CBC_SUITES = ALL_SUITES.filter((s) => s.mode === 'cbc');
const setOf = (s: Suite) => ({ set: { symmetric: s.symmetric, hash: s.hash } });

/** An open pair whose later traffic the test moves by hand (the client's is fed to the server). */
function open(suite?: Suite, serverOptions = {}): Pair {
  const p = openPair(suite ? setOf(suite) : {}, serverOptions);
  p.c.deliver = null;
  p.s.deliver = null;
  return p;
}

/**
 * `bytes` must make `to` throw `code`; the connection is then failed as a transport would,
 * and what it sent in answer is returned.
 */
function refused(t: ExecutionContext, to: Conn, bytes: Buffer, code: string, sent: Buffer[]): Buffer[] {
  const before = sent.length;
  const err = t.throws(() => to.receive(bytes), { instanceOf: SessionError });
  t.is((err as SessionError).code as string, code, (err as Error).message);
  to.fail(err);
  t.is(to.state, 'closed');
  return sent.slice(before);
}

/** The error the peer reports for the alert record `to` sent when it failed. */
function alertSeen(t: ExecutionContext, peer: Conn, answer: Buffer[]): string {
  t.is(answer.length, 1, 'one alert record');
  const err = t.throws(() => peer.receive(answer[0]!), { instanceOf: SessionError });
  return (err as SessionError).code;
}

test('defect 6: a CBC record whose payload is 65 537 or 65 538 bytes is refused as ERR_RECORD_AUTH in every CBC suite', (t) => {
  for (const suite of CBC_SUITES) {
    for (const size of [65537, 65538]) {
      const p = open(suite);
      const record = seal(p.client, RecordType.Data, Buffer.alloc(size, 1));
      // The frame fits the limit (the padding's room): it is the payload limit that refuses it.
      t.true(record.length - 4 <= 65552 + 16 + suite.tagLength, `${suite.hash} ${size}`);
      refused(t, p.server, record, ErrorCode.RECORD_AUTH, p.s.sent);
      t.deepEqual(p.s.messages, []);
    }
    const ok = open(suite);
    ok.server.receive(seal(ok.client, RecordType.Data, Buffer.alloc(65536, 2)));
    t.is(ok.s.messages[0]?.length, 65536);
  }
});

test('a record body one byte over the suite limit is refused on its header in every suite (RecordRejected)', (t) => {
  const limits: Record<string, number> = { 'SHA-256': 65600, 'SHA-384': 65616, 'SHA-512': 65632 };
  for (const suite of ALL_SUITES) {
    const limit = suite.mode === 'aead' ? 65565 : limits[suite.hash]!;
    const p = open(suite);
    const header = (n: number) => Buffer.from([0x17, n >>> 16, (n >>> 8) & 0xff, n & 0xff]);
    p.server.receive(header(limit)); // accepted: waits for the body
    t.is(p.server.bufferedBytes, 4);
    const q = open(suite);
    const answer = refused(t, q.server, header(limit + 1), ErrorCode.RECORD_TOO_LARGE, q.s.sent);
    t.is(alertSeen(t, q.client, answer), ErrorCode.RECORD_AUTH, `${suite.symmetric} ${suite.hash}`);
  }
});

test('a plaintext frame after the handshake is refused on its header (ERR_PROTOCOL, Alert Protocol)', (t) => {
  for (const frame of [
    [0x15, 0, 0, 2, 0, 1],
    [0x03, 0, 0, 5],
    [0x42, 0, 0, 0],
  ]) {
    const p = open();
    const answer = refused(t, p.server, Buffer.from(frame), ErrorCode.PROTOCOL, p.s.sent);
    t.is(alertSeen(t, p.client, answer), ErrorCode.PROTOCOL);
  }
});

test('ciphertext that is empty or not a multiple of 16, a bad tag, a replay and a skipped seq: ERR_RECORD_AUTH', (t) => {
  const cases: Array<(p: Pair) => Buffer> = [
    (p) => {
      const r = seal(p.client, RecordType.Data, [1]);
      return Buffer.concat([Buffer.from([0x17, 0, 0, 16 + 32]), r.subarray(4, 20), r.subarray(-32)]);
    },
    (p) => {
      const r = Buffer.from(seal(p.client, RecordType.Data, [1]));
      const cut = Buffer.concat([r.subarray(0, 4), r.subarray(4, r.length - 8)]);
      cut.writeUIntBE(cut.length - 4, 1, 3);
      return cut;
    },
    (p) => {
      const r = Buffer.from(seal(p.client, RecordType.Data, [1]));
      r[r.length - 1]! ^= 1;
      return r;
    },
    (p) => {
      const r = seal(p.client, RecordType.Data, [1]);
      p.server.receive(r);
      return r;
    },
    (p) => {
      seal(p.client, RecordType.Data, [1]);
      return seal(p.client, RecordType.Data, [2]);
    },
  ];
  for (const make of cases) {
    const p = open();
    const answer = refused(t, p.server, make(p), ErrorCode.RECORD_AUTH, p.s.sent);
    t.is(alertSeen(t, p.client, answer), ErrorCode.RECORD_AUTH);
  }
});

test('an authentic CBC record with a wrong inner seq, payload_length or padding: ERR_RECORD_AUTH', (t) => {
  const suite = ALL_SUITES[0]!;
  const payload = Buffer.from('abc');
  const forgeries = [
    { type: RecordType.Data, payload, innerSeq: 7 },
    { type: RecordType.Data, payload, declaredLength: 2 },
    { type: RecordType.Data, payload, declaredLength: 4 },
    { type: RecordType.Data, payload, padding: Buffer.from([...Array<number>(15).fill(13), 0]) },
    { type: RecordType.Data, payload, padding: Buffer.from([...Array<number>(15).fill(13), 17]) },
    { type: RecordType.Data, payload, padding: Buffer.from([...Array<number>(15).fill(12), 16]) },
    // A plaintext too short for the 13-byte inner header once its padding is removed.
    {
      type: RecordType.Data,
      payload,
      plain: Buffer.from([...Array<number>(10).fill(0), ...Array<number>(6).fill(6)]),
    },
  ];
  for (const f of forgeries) {
    const p = open(suite);
    refused(t, p.server, forgeCbc(p.client, suite, f), ErrorCode.RECORD_AUTH, p.s.sent);
  }
  // The forger itself is sound: the same record with honest fields is delivered.
  const p = open(suite);
  p.server.receive(forgeCbc(p.client, suite, { type: RecordType.Data, payload }));
  t.deepEqual(p.s.messages, [payload]);
});

test('defect 6: a Close whose reason is not valid UTF-8 is refused with ERR_PROTOCOL', (t) => {
  const bad = [
    [0x80],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
    [0xe2, 0x82],
    [0xff],
    [0x61, 0xf4, 0x90, 0x80, 0x80],
  ];
  for (const reason of bad) {
    const p = open();
    const answer = refused(
      t,
      p.server,
      seal(p.client, RecordType.Close, [0x03, 0xe8, ...reason]),
      ErrorCode.PROTOCOL,
      p.s.sent,
    );
    t.deepEqual(p.s.closes, []);
    t.is(alertSeen(t, p.client, answer), ErrorCode.PROTOCOL);
  }
});

test('a Close of 2–125 bytes with a UTF-8 reason is delivered exactly and answered with Close 1000, empty reason', (t) => {
  const reasons = ['', 'bye', 'ünïcødé ✓ 🔒', 'x'.repeat(123), '\ufeffwith a BOM'];
  for (const reason of reasons) {
    const p = open();
    const body = Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from(reason)]);
    const before = p.s.sent.length;
    p.server.receive(seal(p.client, RecordType.Close, body));
    t.deepEqual(p.s.closes, [{ code: 4000, reason }]);
    t.is(p.server.state, 'closed');
    const echo = p.s.sent.slice(before);
    t.is(echo.length, 1);
    p.client.receive(echo[0]!);
    t.deepEqual(p.c.closes, [{ code: 1000, reason: '' }]);
  }
});

test('a Close of fewer than 2 or more than 125 bytes is refused with ERR_PROTOCOL', (t) => {
  for (const body of [
    Buffer.alloc(0),
    Buffer.of(3),
    Buffer.concat([Buffer.of(3, 0xe8), Buffer.alloc(124, 0x61)]),
  ]) {
    const p = open();
    refused(t, p.server, seal(p.client, RecordType.Close, body), ErrorCode.PROTOCOL, p.s.sent);
  }
});

test('a Close between the fragments of a message is refused with ERR_PROTOCOL (truncation stays detectable)', (t) => {
  const p = open();
  p.server.receive(seal(p.client, RecordType.DataMore, [1, 2, 3]));
  refused(t, p.server, seal(p.client, RecordType.Close, [0x03, 0xe8]), ErrorCode.PROTOCOL, p.s.sent);
  t.deepEqual(p.s.closes, []);
  t.deepEqual(p.s.messages, []);
});

test('after sending Close a side still delivers data, does not answer Ping, and ends at the peer Close', (t) => {
  const p = open();
  p.server.close(1000, 'done');
  const before = p.s.sent.length;
  p.server.receive(seal(p.client, RecordType.Data, Buffer.from('late')));
  p.server.receive(seal(p.client, RecordType.Ping, [9]));
  t.deepEqual(p.s.messages, [Buffer.from('late')]);
  t.is(p.s.sent.length, before, 'no Pong after our Close');
  p.server.receive(seal(p.client, RecordType.Close, [0x03, 0xe8]));
  t.is(p.server.state, 'closed');
  t.is(p.s.sent.length, before, 'no second Close');
  // Bytes after the exchange are ignored.
  p.server.receive(Buffer.from('garbage after close'));
  t.deepEqual(p.s.messages, [Buffer.from('late')]);
});

test('empty messages: an empty Data, empty DataMore fragments and empty batch entries are delivered as sent', (t) => {
  const p = open();
  p.server.receive(seal(p.client, RecordType.Data, []));
  p.server.receive(seal(p.client, RecordType.DataMore, []));
  p.server.receive(seal(p.client, RecordType.DataMore, [7]));
  p.server.receive(seal(p.client, RecordType.DataMore, []));
  p.server.receive(seal(p.client, RecordType.Data, []));
  p.server.receive(seal(p.client, RecordType.DataBatch, [0, 0, 0, 0, 0, 0, 0, 1, 8, 0, 0, 0, 0]));
  t.deepEqual(
    p.s.messages.map((m) => [...m]),
    [[], [7], [], [8], []],
  );
});

test('Ping, Pong and KeyUpdate between fragments are handled and the message stays whole', (t) => {
  const p = open();
  p.server.receive(seal(p.client, RecordType.DataMore, [1]));
  const before = p.s.sent.length;
  p.server.receive(seal(p.client, RecordType.Ping, [5, 6]));
  t.is(p.s.sent.length, before + 1);
  p.client.receive(p.s.sent[before]!);
  t.deepEqual(p.c.pongs, [Buffer.from([5, 6])]);
  p.server.receive(seal(p.client, RecordType.Pong, [1]));
  p.server.receive(seal(p.client, RecordType.KeyUpdate, []));
  (p.client as unknown as { sealer: { update(): void } }).sealer.update();
  p.server.receive(seal(p.client, RecordType.Data, [2]));
  t.deepEqual(p.s.messages, [Buffer.from([1, 2])]);
});

test('a DataBatch that is empty, between fragments, or not exactly filled by its entries is refused whole', (t) => {
  const bodies = [
    [],
    [0, 0, 0, 1, 9, 0, 0],
    [0, 0, 0, 1, 9, 0, 0, 0, 2, 1],
    [0, 0, 0, 1, 9, 0, 0, 0, 0, 1],
    [0, 0, 0, 5, 1],
  ];
  for (const body of bodies) {
    const p = open();
    refused(t, p.server, seal(p.client, RecordType.DataBatch, body), ErrorCode.PROTOCOL, p.s.sent);
    t.deepEqual(p.s.messages, [], 'nothing of a malformed batch is delivered');
  }
  const p = open();
  p.server.receive(seal(p.client, RecordType.DataMore, [1]));
  refused(t, p.server, seal(p.client, RecordType.DataBatch, [0, 0, 0, 0]), ErrorCode.PROTOCOL, p.s.sent);
});

test('maxMessageSize: a Data, a reassembly and a batch entry one byte over are refused (MessageTooLarge)', (t) => {
  const max = { maxMessageSize: 10 };
  let p = open(undefined, max);
  const answer = refused(
    t,
    p.server,
    seal(p.client, RecordType.Data, Buffer.alloc(11)),
    ErrorCode.MESSAGE_TOO_LARGE,
    p.s.sent,
  );
  t.is(alertSeen(t, p.client, answer), ErrorCode.MESSAGE_TOO_LARGE);
  p = open(undefined, max);
  p.server.receive(seal(p.client, RecordType.DataMore, Buffer.alloc(6)));
  refused(
    t,
    p.server,
    seal(p.client, RecordType.DataMore, Buffer.alloc(5)),
    ErrorCode.MESSAGE_TOO_LARGE,
    p.s.sent,
  );
  t.true(p.server.bufferedBytes <= 6, 'refused before concatenating');
  p = open(undefined, max);
  const batch = Buffer.concat([Buffer.from([0, 0, 0, 1, 1, 0, 0, 0, 11]), Buffer.alloc(11)]);
  refused(t, p.server, seal(p.client, RecordType.DataBatch, batch), ErrorCode.MESSAGE_TOO_LARGE, p.s.sent);
  t.deepEqual(p.s.messages, []);
  p = open(undefined, max);
  p.server.receive(seal(p.client, RecordType.DataMore, Buffer.alloc(5)));
  p.server.receive(seal(p.client, RecordType.Data, Buffer.alloc(5)));
  t.is(p.s.messages[0]?.length, 10);
});

test('Ping or Pong of 65 bytes, KeyUpdate with a payload, unknown and handshake record types after open: ERR_PROTOCOL', (t) => {
  const records: Array<[number, Buffer]> = [
    [RecordType.Ping, Buffer.alloc(65)],
    [RecordType.Pong, Buffer.alloc(65)],
    [RecordType.KeyUpdate, Buffer.of(0)],
    [0x0a, Buffer.alloc(0)],
    [0x00, Buffer.alloc(0)],
    [RecordType.ServerFinished, Buffer.alloc(32)],
    [RecordType.ClientFinished, Buffer.of(0)],
  ];
  for (const [type, payload] of records) {
    const p = open();
    const answer = refused(t, p.server, seal(p.client, type, payload), ErrorCode.PROTOCOL, p.s.sent);
    t.is(alertSeen(t, p.client, answer), ErrorCode.PROTOCOL);
  }
  const p = open();
  const before = p.s.sent.length;
  p.server.receive(seal(p.client, RecordType.Ping, Buffer.alloc(64, 3)));
  p.client.receive(p.s.sent[before]!);
  t.deepEqual(p.c.pongs, [Buffer.alloc(64, 3)]);
});

test('an Alert record ends the session with its code; a malformed or unknown one reads as ERR_PEER_ERROR', (t) => {
  const cases: Array<[number[], string]> = [
    [[0, 7], ErrorCode.MESSAGE_TOO_LARGE],
    [[0, 9], ErrorCode.NOT_AUTHORIZED],
    [[0, 0x63], ErrorCode.PEER_ERROR],
    [[0], ErrorCode.PEER_ERROR],
    [[0, 7, 0], ErrorCode.PEER_ERROR],
  ];
  for (const [payload, code] of cases) {
    const p = open();
    const answer = refused(t, p.server, seal(p.client, RecordType.Alert, payload), code, p.s.sent);
    t.deepEqual(answer, [], 'an alert is not answered with an alert');
  }
});

test('key budget: a receiver refuses the record after twice the budget under one key (KeyExhausted)', (t) => {
  // Records: the server opens ClientFinished (1) and 7 Data records under c2s_0: 8 = 2 × 4.
  let p = open(undefined, { keyBudget: { records: 4, bytes: 2 ** 32 } });
  for (let i = 0; i < 7; i++) p.server.receive(seal(p.client, RecordType.Data, [i]));
  const answer = refused(t, p.server, seal(p.client, RecordType.Ping, []), ErrorCode.KEY_EXHAUSTED, p.s.sent);
  t.is(alertSeen(t, p.client, answer), ErrorCode.KEY_EXHAUSTED);
  // A KeyUpdate (itself counted under the old key) starts the count again.
  p = open(undefined, { keyBudget: { records: 4, bytes: 2 ** 32 } });
  for (let i = 0; i < 6; i++) p.server.receive(seal(p.client, RecordType.Data, [i]));
  p.server.receive(seal(p.client, RecordType.KeyUpdate, []));
  (p.client as unknown as { sealer: { update(): void } }).sealer.update();
  for (let i = 0; i < 8; i++) p.server.receive(seal(p.client, RecordType.Data, [i]));
  refused(t, p.server, seal(p.client, RecordType.Data, []), ErrorCode.KEY_EXHAUSTED, p.s.sent);
  // Bytes: payload bytes only; refused once 2 × budget bytes were opened under the key.
  p = open(undefined, { keyBudget: { records: 2 ** 24, bytes: 100 } });
  p.server.receive(seal(p.client, RecordType.Data, Buffer.alloc(198)));
  p.server.receive(seal(p.client, RecordType.Data, Buffer.alloc(0)));
  p.server.receive(seal(p.client, RecordType.Data, Buffer.alloc(1)));
  refused(t, p.server, seal(p.client, RecordType.Data, []), ErrorCode.KEY_EXHAUSTED, p.s.sent);
  t.is(p.s.messages.length, 3);
});

test('a Close that reaches the key budget is the last record: no KeyUpdate follows it', (t) => {
  // The client's budget: ClientFinished and one Data, so its Close is the second record under the key.
  const p = openPair({ keyBudget: { records: 3, bytes: 2 ** 32 } });
  p.client.write(Buffer.from('x'));
  p.c.deliver = null;
  const before = p.c.sent.length;
  p.client.close(1000, '');
  t.is(p.c.sent.length, before + 1, 'only the Close');
  p.server.receive(p.c.sent[before]!);
  t.deepEqual(p.s.closes, [{ code: 1000, reason: '' }]);
  t.is(p.server.state, 'closed');
});

for (const gcm of ALL_SUITES.filter((s) => s.mode === 'aead' && s.hash === 'SHA-256'))
  test(`${gcm.symmetric}: a bad tag, a body shorter than inner header and tag, a replay: ERR_RECORD_AUTH; 65 536 bytes delivered`, (t) => {
    const cases: Array<(p: Pair) => Buffer> = [
      (p) => {
        const r = Buffer.from(seal(p.client, RecordType.Data, [1]));
        r[r.length - 1]! ^= 1;
        return r;
      },
      (p) => {
        const r = seal(p.client, RecordType.Data, []);
        const cut = Buffer.concat([r.subarray(0, 4 + 12), r.subarray(-16)]);
        cut.writeUIntBE(cut.length - 4, 1, 3);
        return cut;
      },
      (p) => {
        const r = seal(p.client, RecordType.Data, [1]);
        p.server.receive(r);
        return r;
      },
    ];
    for (const make of cases) {
      const p = open(gcm);
      refused(t, p.server, make(p), ErrorCode.RECORD_AUTH, p.s.sent);
    }
    const p = open(gcm);
    p.server.receive(seal(p.client, RecordType.Data, Buffer.alloc(65536, 4)));
    t.is(p.s.messages[0]?.length, 65536);
  });

test('a Close with any u16 code is accepted and reported with its code', (t) => {
  for (const code of [0, 1000, 1001, 2999, 4999, 65535]) {
    const p = open();
    p.server.receive(seal(p.client, RecordType.Close, [code >>> 8, code & 0xff]));
    t.deepEqual(p.s.closes, [{ code, reason: '' }]);
  }
});
