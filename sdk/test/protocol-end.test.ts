/**
 * Half-close on the sans-IO core (PROTOCOL.md §5 "Half-close (End)"): the sender's rules
 * (End after the queued messages, at most once, never after Close, no message after it,
 * control records still sent), the receiver's refusals (a payload, a second End, End
 * between fragments, a message after End), control records after End, and the rule that
 * a side which has sent and received End sends Close 1000: both sides close normally.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import { ALL_SUITES, ErrorCode, SessionError } from '../src/protocol/index.js';
import { RecordType } from '../src/protocol/constants.js';
import { innerOf, seal, sealerOf, sendingSecret } from './helpers/forge.js';
import type { Conn } from './helpers/forge.js';
import { makePair, openPair } from './helpers/protocol-pair.js';
import type { Pair } from './helpers/protocol-pair.js';

const suite = ALL_SUITES[0]!;
const END = RecordType.End;

/** An open pair (default suite, CBC) whose later traffic the test moves by hand. */
function open(clientOptions = {}): Pair {
  const p = openPair(clientOptions);
  p.c.deliver = null;
  p.s.deliver = null;
  return p;
}

/** `bytes` must make `to` throw ERR_PROTOCOL; `to` then fails and its alert reads as ERR_PROTOCOL at `peer`. */
function refused(t: ExecutionContext, to: Conn, peer: Conn, sent: Buffer[], bytes: Buffer): void {
  const before = sent.length;
  const err = t.throws(() => to.receive(bytes), { instanceOf: SessionError });
  t.is((err as SessionError).code, ErrorCode.PROTOCOL, (err as Error).message);
  to.fail(err);
  t.is(to.state, 'closed');
  const answer = sent.slice(before);
  t.is(answer.length, 1, 'one alert record');
  const seen = t.throws(() => peer.receive(answer[0]!), { instanceOf: SessionError });
  t.is((seen as SessionError).code, ErrorCode.PROTOCOL);
}

/** The record types in `records`, sealed by `conn` under `secret`. */
const typesOf = (conn: Conn, secret: Buffer, records: Buffer[]): number[] =>
  records.map((r) => innerOf(conn, suite, r, secret).type);

test('end() seals the queued messages first, then one empty End record; a second end() sends nothing', (t) => {
  const p = open();
  const secret = sendingSecret(p.client);
  const before = p.c.sent.length;
  p.client.queue(Buffer.from('a'));
  p.client.queue(Buffer.from('b'));
  p.client.end();
  p.client.end();
  const sent = p.c.sent.slice(before);
  t.deepEqual(typesOf(p.client, secret, sent), [RecordType.DataBatch, END]);
  t.is(innerOf(p.client, suite, sent[1]!, secret).payload.length, 0);
  t.true(p.client.writableEnded);
  t.false(p.client.readableEnded);
  for (const r of sent) p.server.receive(r);
  t.deepEqual(p.s.messages.map(String), ['a', 'b']);
  t.is(p.s.ends, 1);
  t.true(p.server.readableEnded);
  t.false(p.server.writableEnded);
  t.is(p.server.state, 'open');
  t.is(p.client.state, 'open');
});

test('after end() messages are refused with ERR_WRITE_AFTER_END; ping, KeyUpdate and Close still go out', (t) => {
  // A budget of 3 records: ClientFinished, End, Ping, then a KeyUpdate is due.
  const p = open({ keyBudget: { records: 3, bytes: 2 ** 32 } });
  const secret = sendingSecret(p.client);
  p.client.end();
  for (const write of [
    () => p.client.write(Buffer.from('x')),
    () => p.client.writeMany([Buffer.from('x')]),
    () => p.client.queue(Buffer.from('x')),
  ]) {
    const err = t.throws(write, { instanceOf: SessionError });
    t.is((err as SessionError).code, ErrorCode.WRITE_AFTER_END);
  }
  t.false(p.client.tryQueue(Buffer.from('x')));
  const before = p.c.sent.length;
  p.client.ping(Buffer.from('p'));
  t.deepEqual(typesOf(p.client, secret, p.c.sent.slice(before)), [RecordType.Ping, RecordType.KeyUpdate]);
  p.client.close(4001, 'done');
  for (const r of p.c.sent.slice(before - 1)) p.server.receive(r);
  t.is(p.s.ends, 1);
  t.deepEqual(p.s.closes, [{ code: 4001, reason: 'done' }]);
  t.is(p.s.messages.length, 0);
});

test('end() is refused during the handshake, after our Close and after a failure (ERR_SESSION_CLOSED)', (t) => {
  const h = makePair({}, {}, false);
  h.client.start();
  t.is(
    (t.throws(() => h.client.end(), { instanceOf: SessionError }) as SessionError).code,
    ErrorCode.SESSION_CLOSED,
  );
  const p = open();
  p.client.close();
  const err = t.throws(() => p.client.end(), { instanceOf: SessionError });
  t.is((err as SessionError).code, ErrorCode.SESSION_CLOSED);
  t.false(p.client.writableEnded);
  const q = openPair();
  q.server.fail(new SessionError(ErrorCode.TIMEOUT, 'test'));
  t.is(
    (t.throws(() => q.server.end(), { instanceOf: SessionError }) as SessionError).code,
    ErrorCode.SESSION_CLOSED,
  );
});

test('receiver: an End with a payload is refused with ERR_PROTOCOL (Alert Protocol)', (t) => {
  for (const payload of [[0], [0x03, 0xe8], Array<number>(64).fill(1)]) {
    const p = open();
    refused(t, p.server, p.client, p.s.sent, seal(p.client, END, payload));
    t.is(p.s.ends, 0);
  }
  // The same record empty is an End (an earlier text of version 1 refused 0x09 whatever it held).
  const p = open();
  p.server.receive(seal(p.client, END, []));
  t.is(p.s.ends, 1);
});

test('receiver: a second End is refused with ERR_PROTOCOL', (t) => {
  const p = open();
  p.server.receive(seal(p.client, END));
  t.is(p.s.ends, 1);
  refused(t, p.server, p.client, p.s.sent, seal(p.client, END));
  t.is(p.s.ends, 1);
});

test('receiver: an End between the fragments of a message is refused; nothing is delivered', (t) => {
  const p = open();
  p.server.receive(seal(p.client, RecordType.DataMore, [1, 2, 3]));
  refused(t, p.server, p.client, p.s.sent, seal(p.client, END));
  t.deepEqual(p.s.messages, []);
  t.is(p.s.ends, 0);
  // Once the message is whole, End is accepted.
  const q = open();
  q.server.receive(seal(q.client, RecordType.DataMore, [1, 2, 3]));
  q.server.receive(seal(q.client, RecordType.Data, [4]));
  q.server.receive(seal(q.client, END));
  t.deepEqual(q.s.messages, [Buffer.from([1, 2, 3, 4])]);
  t.is(q.s.ends, 1);
});

test('receiver: Data, DataMore or DataBatch after the peer’s End is refused with ERR_PROTOCOL', (t) => {
  const records: Array<[number, number[]]> = [
    [RecordType.Data, [1]],
    [RecordType.Data, []],
    [RecordType.DataMore, [1]],
    [RecordType.DataBatch, [0, 0, 0, 1, 7]],
  ];
  for (const [type, payload] of records) {
    const p = open();
    p.server.receive(seal(p.client, RecordType.Data, [9]));
    p.server.receive(seal(p.client, END));
    refused(t, p.server, p.client, p.s.sent, seal(p.client, type, payload));
    t.deepEqual(
      p.s.messages.map((m) => [...m]),
      [[9]],
    );
  }
});

test('receiver: Ping, Pong and KeyUpdate after the peer’s End are handled; its Close ends the session normally', (t) => {
  const p = open();
  p.server.receive(seal(p.client, END));
  const before = p.s.sent.length;
  p.server.receive(seal(p.client, RecordType.Ping, [5, 6]));
  t.is(p.s.sent.length, before + 1, 'the Ping is answered');
  p.client.receive(p.s.sent[before]!);
  t.deepEqual(p.c.pongs, [Buffer.from([5, 6])]);
  p.server.receive(seal(p.client, RecordType.Pong, [1]));
  p.server.receive(seal(p.client, RecordType.KeyUpdate));
  sealerOf(p.client).update();
  // The side that received End still sends messages, and they arrive.
  p.server.write(Buffer.from('answer'));
  p.client.receive(p.s.sent.at(-1)!);
  t.deepEqual(p.c.messages.map(String), ['answer']);
  p.server.receive(seal(p.client, RecordType.Ping, []));
  p.server.receive(seal(p.client, RecordType.Close, [0x03, 0xe8]));
  t.deepEqual(p.s.closes, [{ code: 1000, reason: '' }]);
  t.is(p.server.state, 'closed');
});

test('an End after our own Close is accepted: the peer’s Close still ends the session', (t) => {
  const p = open();
  p.server.close(1000, '');
  p.server.receive(seal(p.client, RecordType.Data, [1]));
  p.server.receive(seal(p.client, END));
  t.is(p.s.ends, 1);
  const before = p.s.sent.length;
  p.server.receive(seal(p.client, RecordType.Close, [0x03, 0xe8]));
  t.is(p.s.sent.length, before, 'no second Close');
  t.is(p.server.state, 'closed');
});

test('both ended, one after the other: the second side sends End then Close 1000; both close 1000 with an empty reason', (t) => {
  const p = open();
  const cSecret = sendingSecret(p.client);
  const sSecret = sendingSecret(p.server);
  const c0 = p.c.sent.length;
  const s0 = p.s.sent.length;
  p.client.write(Buffer.from('request'));
  p.client.end();
  for (const r of p.c.sent.slice(c0)) p.server.receive(r);
  t.is(p.server.state, 'open', 'the server only half-closed');
  t.deepEqual(p.s.sent.slice(s0), [], 'receiving End sends nothing');
  p.server.write(Buffer.from('reply'));
  p.server.end();
  t.is(p.server.state, 'closing');
  const fromServer = p.s.sent.slice(s0);
  t.deepEqual(typesOf(p.server, sSecret, fromServer), [RecordType.Data, END, RecordType.Close]);
  t.deepEqual([...innerOf(p.server, suite, fromServer[2]!, sSecret).payload], [0x03, 0xe8]);
  const c1 = p.c.sent.length;
  for (const r of fromServer) p.client.receive(r);
  t.deepEqual(p.c.messages.map(String), ['reply']);
  t.is(p.c.ends, 1);
  // The client had ended: at the server's End it sends its Close, which crosses the server's.
  const fromClient = p.c.sent.slice(c1);
  t.deepEqual(typesOf(p.client, cSecret, fromClient), [RecordType.Close]);
  t.deepEqual([...innerOf(p.client, suite, fromClient[0]!, cSecret).payload], [0x03, 0xe8]);
  t.is(p.client.state, 'closed');
  t.deepEqual(p.c.closes, [{ code: 1000, reason: '' }]);
  for (const r of fromClient) p.server.receive(r);
  t.is(p.server.state, 'closed');
  t.deepEqual(p.s.closes, [{ code: 1000, reason: '' }]);
  t.is(p.s.sent.length, s0 + 3, 'no answer to a Close that crossed ours');
});

test('ends that cross: each side sends Close 1000 at the other’s End, and the two Closes answer each other', (t) => {
  const p = open();
  const c0 = p.c.sent.length;
  const s0 = p.s.sent.length;
  p.client.end();
  p.server.end();
  t.is(p.client.state, 'open');
  p.server.receive(p.c.sent[c0]!);
  p.client.receive(p.s.sent[s0]!);
  t.is(p.server.state, 'closing');
  t.is(p.client.state, 'closing');
  // Each sent End, then Close.
  t.is(p.c.sent.length, c0 + 2);
  t.is(p.s.sent.length, s0 + 2);
  p.server.receive(p.c.sent[c0 + 1]!);
  p.client.receive(p.s.sent[s0 + 1]!);
  t.is(p.server.state, 'closed');
  t.is(p.client.state, 'closed');
  t.deepEqual(p.c.closes, [{ code: 1000, reason: '' }]);
  t.deepEqual(p.s.closes, [{ code: 1000, reason: '' }]);
  t.is(p.c.sent.length, c0 + 2);
  t.is(p.s.sent.length, s0 + 2);
});

test('a wired pair: both ends close the connection normally on both sides', (t) => {
  const p = openPair();
  p.client.write(Buffer.from('up'));
  p.client.end();
  p.server.write(Buffer.from('down'));
  p.server.end();
  t.deepEqual(p.errors, []);
  t.deepEqual([p.client.state, p.server.state], ['closed', 'closed']);
  t.deepEqual(p.s.messages.map(String), ['up']);
  t.deepEqual(p.c.messages.map(String), ['down']);
  t.deepEqual(p.c.closes, [{ code: 1000, reason: '' }]);
  t.deepEqual(p.s.closes, [{ code: 1000, reason: '' }]);
});
