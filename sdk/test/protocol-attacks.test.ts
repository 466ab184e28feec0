import test from 'ava';
import { ErrorCode } from '../src/protocol/index.js';
import { makePair } from './helpers/protocol-pair.js';
import type { Pair } from './helpers/protocol-pair.js';

/** An open pair whose later traffic is captured but not delivered: the test is the network. */
function capturedPair(): Pair {
  const p = makePair();
  p.client.start();
  p.c.deliver = null;
  p.s.deliver = null;
  return p;
}

/** Client records written after the handshake, each as sent. */
function clientRecords(p: Pair, messages: string[]): Buffer[] {
  const from = p.c.sent.length;
  for (const m of messages) p.client.write(Buffer.from(m));
  return p.c.sent.slice(from);
}

test('a bit flipped at any position of a record is rejected with one generic error', (t) => {
  const p = capturedPair();
  const [record] = clientRecords(p, ['attack at dawn']);
  const messages = new Set<string>();
  for (let i = 0; i < record!.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const q = capturedPair();
      const [good] = clientRecords(q, ['attack at dawn']);
      const bad = Buffer.from(good!);
      bad[i]! ^= bit;
      let err: unknown = null;
      try {
        q.server.receive(bad);
      } catch (e) {
        err = e;
      }
      if (err === null) {
        // A length bit that makes the frame longer: the record is held incomplete, unread.
        t.true(i >= 1 && i <= 3, `byte ${i} was accepted`);
        t.true(q.server.bufferedBytes > 0);
        t.deepEqual(q.s.messages, []);
        continue;
      }
      const code: string = (err as { code: string }).code;
      const allowed: string[] = [ErrorCode.RECORD_AUTH, ErrorCode.RECORD_TOO_LARGE, ErrorCode.PROTOCOL];
      t.true(allowed.includes(code), `byte ${i}: ${(err as Error).message}`);
      messages.add((err as Error).message);
      t.deepEqual(q.s.messages, []);
    }
  }
  // Past the 4-byte header, every failure reads the same: no oracle on MAC vs padding vs seq.
  t.true(messages.has('record rejected: authentication failed'));
});

test('a flipped byte past the header gives exactly the generic record error', (t) => {
  for (const offset of [4, 10, 19, 20, 30, 40, -1, -20]) {
    const q = capturedPair();
    const [good] = clientRecords(q, ['attack at dawn']);
    const bad = Buffer.from(good!);
    const at = offset < 0 ? bad.length + offset : offset;
    bad[at]! ^= 0x01;
    t.throws(() => q.server.receive(bad), {
      code: ErrorCode.RECORD_AUTH,
      message: 'record rejected: authentication failed',
    });
  }
});

test('a record reflected back to its sender is rejected (per-direction keys)', (t) => {
  const p = capturedPair();
  const [record] = clientRecords(p, ['to the server']);
  t.throws(() => p.client.receive(record!), { code: ErrorCode.RECORD_AUTH });
});

test('a duplicated record is rejected', (t) => {
  const p = capturedPair();
  const [r1] = clientRecords(p, ['once']);
  p.server.receive(r1!);
  t.throws(() => p.server.receive(r1!), { code: ErrorCode.RECORD_AUTH });
  t.deepEqual(p.s.messages, [Buffer.from('once')]);
});

test('a dropped record is detected at the next one', (t) => {
  const p = capturedPair();
  const [, r2] = clientRecords(p, ['first', 'second']);
  t.throws(() => p.server.receive(r2!), { code: ErrorCode.RECORD_AUTH });
  t.deepEqual(p.s.messages, []);
});

test('reordered records are rejected', (t) => {
  const p = capturedPair();
  const [r1, r2] = clientRecords(p, ['first', 'second']);
  t.throws(() => p.server.receive(Buffer.concat([r2!, r1!])), { code: ErrorCode.RECORD_AUTH });
});

test('a record from another session is rejected', (t) => {
  const a = capturedPair();
  const b = capturedPair();
  const [record] = clientRecords(a, ['for a only']);
  t.throws(() => b.server.receive(record!), { code: ErrorCode.RECORD_AUTH });
});

test('a length field claiming 16 MiB is refused from the header alone', (t) => {
  const p = capturedPair();
  const header = Buffer.from([0x17, 0xff, 0xff, 0xff]);
  t.throws(() => p.server.receive(header), { code: ErrorCode.RECORD_TOO_LARGE });
  t.is(p.server.bufferedBytes, 0);
});

test('a record truncated in transit is held, not delivered, and a following record cannot complete it', (t) => {
  const p = capturedPair();
  const [r1, r2] = clientRecords(p, ['complete message', 'next']);
  p.server.receive(r1!.subarray(0, r1!.length - 5));
  t.deepEqual(p.s.messages, []);
  // The attacker splices the next record into the gap: the tag no longer verifies.
  t.throws(() => p.server.receive(r2!), { code: ErrorCode.RECORD_AUTH });
  t.deepEqual(p.s.messages, []);
});

test('a forged close record cannot end the session', (t) => {
  const p = capturedPair();
  const records = clientRecords(p, ['hello']);
  p.client.close(1000, 'bye');
  const close = p.c.sent.at(-1)!;
  const bad = Buffer.from(close);
  bad[bad.length - 1]! ^= 1;
  p.server.receive(records[0]!);
  t.throws(() => p.server.receive(bad), { code: ErrorCode.RECORD_AUTH });
  t.deepEqual(p.s.closes, []);
});

test('a plaintext frame after the handshake is a protocol error', (t) => {
  const p = capturedPair();
  t.throws(() => p.server.receive(Buffer.from([0x15, 0, 0, 2, 0, 1])), { code: ErrorCode.PROTOCOL });
});

test('nothing is accepted after a failure: the connection stays closed', (t) => {
  const p = capturedPair();
  const [r1, r2] = clientRecords(p, ['a', 'b']);
  const bad = Buffer.from(r1!);
  bad[30]! ^= 1;
  t.throws(() => p.server.receive(bad));
  p.server.fail(new Error('after'));
  t.is(p.server.state, 'closed');
  p.server.receive(r2!);
  t.deepEqual(p.s.messages, []);
});

for (const symmetric of ['AES-256-GCM', 'ChaCha20-Poly1305'] as const)
  test(`with the ${symmetric} suite, a flipped byte, a reflected, a duplicated or a reordered record is rejected`, (t) => {
    const gcm = (): Pair => {
      const p = makePair({ set: { symmetric } });
      p.client.start();
      p.c.deliver = null;
      p.s.deliver = null;
      return p;
    };
    const p = gcm();
    const [r1, r2] = clientRecords(p, ['first', 'second']);
    for (let i = 4; i < r1!.length; i += 3) {
      const q = gcm();
      const [good] = clientRecords(q, ['first']);
      const bad = Buffer.from(good!);
      bad[i]! ^= 0x04;
      t.throws(() => q.server.receive(bad), { code: ErrorCode.RECORD_AUTH });
    }
    t.throws(() => p.client.receive(r1!), { code: ErrorCode.RECORD_AUTH });
    t.throws(() => gcm().server.receive(r2!), { code: ErrorCode.RECORD_AUTH });
    p.server.receive(r1!);
    t.throws(() => p.server.receive(r1!), { code: ErrorCode.RECORD_AUTH });
    t.deepEqual(p.s.messages, [Buffer.from('first')]);
  });
