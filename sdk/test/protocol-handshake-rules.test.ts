/**
 * The handshake's receiver rules (PROTOCOL.md §1, §2, §6, §8): parse order of the hellos,
 * which refusal answers with which plaintext alert (or none), ClientFinished's exact shape.
 * Sans-IO: the test is the network.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Buffer } from 'node:buffer';
import {
  ALL_SUITES,
  ClientConnection,
  ErrorCode,
  ServerConnection,
  SessionError,
} from '../src/protocol/index.js';
import { RecordType } from '../src/protocol/constants.js';
import { payloadOf, seal, sealerOf } from './helpers/forge.js';
import type { Conn } from './helpers/forge.js';
import { Endpoint, fixturePrivateKey } from './helpers/protocol-pair.js';

const serverKey = fixturePrivateKey('server-2048');
const clientKey = fixturePrivateKey('client-2048');

/** Offsets in a ClientHello frame. */
const AT = { magic: 4, version: 8, suite: 9, flags: 12, keyId: 77, ctLen: 109 };

function manual(options: { clientAuth?: boolean; decryptLater?: boolean } = {}) {
  const c = new Endpoint();
  const s = new Endpoint();
  const client = new ClientConnection(c.handler(), {
    serverKey: serverKey.publicKey,
    ...(options.clientAuth ? { clientKey } : {}),
  });
  const handler = options.decryptLater ? { ...s.handler(), decryptSecret: () => {} } : s.handler();
  const server = new ServerConnection(handler, { keys: [serverKey] });
  client.start();
  return { c, s, client, server, hello: Buffer.from(c.sent[0]!) };
}

/** `bytes` make `to` throw `code`; it is failed as a transport would; returns what it sent then. */
function refused(t: ExecutionContext, to: Conn, bytes: Buffer, code: string, sent: Buffer[]): Buffer[] {
  const err = t.throws(() => to.receive(bytes), { instanceOf: SessionError });
  t.is((err as SessionError).code as string, code, (err as Error).message);
  const before = sent.length;
  to.fail(err);
  return sent.slice(before);
}

const alertFrame = (code: number) => Buffer.from([0x15, 0, 0, 2, code >>> 8, code & 0xff]);

test('ClientHello: preamble, then fields, then suite, then key: each refusal with its plaintext alert', (t) => {
  const cases: Array<[string, (h: Buffer) => Buffer, string, number]> = [
    ['bad magic', (h) => (h.fill(0x58, AT.magic, AT.magic + 1), h), ErrorCode.UNSUPPORTED_VERSION, 0x0002],
    ['version 2', (h) => ((h[AT.version] = 2), h), ErrorCode.UNSUPPORTED_VERSION, 0x0002],
    [
      'reserved flag (bit 2; bit 1 asks for a ticket, §6a)',
      (h) => ((h[AT.flags] = 0x04), h),
      ErrorCode.HANDSHAKE,
      0x0005,
    ],
    ['trailing byte', (h) => withBody(Buffer.concat([h, Buffer.of(0)])), ErrorCode.HANDSHAKE, 0x0005],
    ['ct_len past the end', (h) => (h.writeUInt16BE(0x101, AT.ctLen), h), ErrorCode.HANDSHAKE, 0x0005],
    ['short body', (h) => withBody(h.subarray(0, 7)), ErrorCode.HANDSHAKE, 0x0005],
    ['unknown suite', (h) => ((h[AT.suite + 1] = 0x09), h), ErrorCode.SUITE_MISMATCH, 0x0003],
    ['unknown key', (h) => ((h[AT.keyId]! ^= 1), h), ErrorCode.SERVER_KEY_MISMATCH, 0x0004],
    // Order: the preamble first, the whole parse before any check of its values, suite before key.
    [
      'bad magic + trailing',
      (h) => (h.fill(0, AT.magic, AT.magic + 1), withBody(Buffer.concat([h, Buffer.of(0)]))),
      ErrorCode.UNSUPPORTED_VERSION,
      0x0002,
    ],
    [
      'reserved flag + unknown suite',
      (h) => ((h[AT.flags] = 0x80), (h[AT.suite] = 9), h),
      ErrorCode.HANDSHAKE,
      0x0005,
    ],
    [
      'unknown suite + unknown key',
      (h) => ((h[AT.suite + 2] = 9), (h[AT.keyId]! ^= 1), h),
      ErrorCode.SUITE_MISMATCH,
      0x0003,
    ],
  ];
  for (const [name, mutate, code, alert] of cases) {
    const p = manual();
    const answer = refused(t, p.server, mutate(Buffer.from(p.hello)), code, p.s.sent);
    t.deepEqual(answer, [alertFrame(alert)], name);
  }
});

/** The frame with its length field set to its body's length. */
function withBody(f: Buffer): Buffer {
  const out = Buffer.from(f);
  out.writeUIntBE(out.length - 4, 1, 3);
  return out;
}

test('ClientHello: a ciphertext of any length (even 0) is implicit rejection: the server answers as usual', (t) => {
  for (const length of [0, 1, 255, 257]) {
    const p = manual();
    const h = Buffer.concat([p.hello.subarray(0, AT.ctLen + 2), Buffer.alloc(length, 7)]);
    h.writeUInt16BE(length, AT.ctLen);
    p.server.receive(withBody(h));
    t.deepEqual(
      p.s.sent.map((f) => f[0]),
      [0x04, 0x17],
      `${length}`,
    );
    // The client's ClientFinished then fails to open: HandshakeFailed, plaintext.
    // The real client used its own pre_secret: the server's proof fails.
    t.throws(() => p.client.receive(Buffer.concat(p.s.sent)), { code: ErrorCode.HANDSHAKE });
  }
});

test('during the handshake a frame refused on its header gets plaintext HandshakeFailed', (t) => {
  const frames = [
    Buffer.from([0x17, 0, 0, 64]), // a record before keys exist
    Buffer.from([0x03, 0, 0x10, 0x01]), // a handshake frame of 4097 bytes
    Buffer.from([0x15, 0, 0, 3]), // a plaintext alert longer than 2
    Buffer.from([0x16, 0, 0, 0]), // an unknown frame type
    Buffer.from([0x02, 0, 0, 5]), // a type the server never receives: refused after its body
  ];
  for (const [i, frame] of frames.entries()) {
    const p = manual();
    const bytes = i === 4 ? Buffer.concat([frame, Buffer.from('sEsS\x01')]) : frame;
    t.deepEqual(refused(t, p.server, bytes, ErrorCode.HANDSHAKE, p.s.sent), [alertFrame(0x0005)], `${i}`);
    t.is(p.server.bufferedBytes, 0);
  }
});

test('keys derived, not confirmed: a record too long for the first record gets plaintext HandshakeFailed on either side', (t) => {
  const tooLong = Buffer.from([0x17, 0x01, 0x00, 0x41]); // 65 601: over every state's limit
  let p = manual();
  p.server.receive(p.hello);
  t.deepEqual(refused(t, p.server, tooLong, ErrorCode.HANDSHAKE, p.s.sent), [alertFrame(0x0005)]);
  p = manual();
  p.server.receive(p.hello);
  p.client.receive(p.s.sent[0]!);
  t.deepEqual(refused(t, p.client, tooLong, ErrorCode.HANDSHAKE, p.c.sent), [alertFrame(0x0005)]);
});

test('a plaintext Alert of exactly 2 bytes ends the handshake with its code, in any handshake state, unanswered', (t) => {
  let p = manual();
  t.deepEqual(refused(t, p.server, alertFrame(0x0002), ErrorCode.UNSUPPORTED_VERSION, p.s.sent), []);
  p = manual();
  t.deepEqual(refused(t, p.server, Buffer.from([0x15, 0, 0, 1, 2]), ErrorCode.HANDSHAKE, p.s.sent), [
    alertFrame(0x0005),
  ]);
  // Keys derived, not yet confirmed: a plaintext alert is still accepted (server and client).
  p = manual();
  p.server.receive(p.hello);
  t.deepEqual(refused(t, p.server, alertFrame(0x0063), ErrorCode.PEER_ERROR, p.s.sent), []);
  p = manual();
  p.server.receive(p.hello);
  p.client.receive(p.s.sent[0]!); // ServerHello only: the client has keys, no proof yet
  t.deepEqual(refused(t, p.client, alertFrame(0x000c), ErrorCode.SERVER_BUSY, p.c.sent), []);
});

test('the server refuses a second KeyRequest, a KeyResponse, and a ClientHello after its reply', (t) => {
  let p = manual();
  const keyRequest = Buffer.from([0x01, 0, 0, 5, 0x73, 0x45, 0x73, 0x53, 1]);
  p.server.receive(keyRequest);
  t.deepEqual(refused(t, p.server, keyRequest, ErrorCode.HANDSHAKE, p.s.sent), [alertFrame(0x0005)]);
  p = manual();
  t.deepEqual(
    refused(t, p.server, withBody(Buffer.concat([keyRequest, Buffer.of(0)])), ErrorCode.HANDSHAKE, p.s.sent),
    [alertFrame(0x0005)],
  );
  p = manual();
  p.server.receive(p.hello);
  t.deepEqual(refused(t, p.server, p.hello, ErrorCode.HANDSHAKE, p.s.sent), [alertFrame(0x0005)]);
});

test('while the server decrypts, a record is refused on its header and other frames are held up to 8 KiB', (t) => {
  let p = manual({ decryptLater: true });
  p.server.receive(p.hello);
  t.deepEqual(refused(t, p.server, Buffer.from([0x17, 0, 0, 64]), ErrorCode.HANDSHAKE, p.s.sent), [
    alertFrame(0x0005),
  ]);
  p = manual({ decryptLater: true });
  p.server.receive(p.hello);
  // Each held frame counts its whole size plus 128 bytes: two frames of 3968 bytes make 8192.
  const big = withBody(Buffer.concat([Buffer.from([0x01, 0, 0, 0]), Buffer.alloc(3964)]));
  p.server.receive(big);
  p.server.receive(big); // 8192 counted: the limit
  refused(t, p.server, Buffer.from([0x01, 0, 0, 0]), ErrorCode.HANDSHAKE, p.s.sent);
});

/** A handshake brought to the server's AWAIT_FINISHED, with the client's keys to forge its Finished. */
function awaitingFinished(clientAuth = false) {
  const p = manual({ clientAuth });
  p.server.receive(p.hello);
  p.client.receive(Buffer.concat(p.s.sent));
  t0(p.client.state === 'open');
  sealerOf(p.client).seq = 0; // the test forges ClientFinished in place of the one it sent
  return p;
}

function t0(ok: boolean): void {
  if (!ok) throw new Error('handshake did not reach the expected state');
}

test('ClientFinished without client auth is exactly one byte 0x00; anything else is NotAuthorized (encrypted)', (t) => {
  for (const payload of [[], [0x00, 0x00], [0x01], [0x02], [0x80]]) {
    const p = awaitingFinished();
    const answer = refused(
      t,
      p.server,
      seal(p.client, RecordType.ClientFinished, payload),
      ErrorCode.NOT_AUTHORIZED,
      p.s.sent,
    );
    t.is(answer.length, 1);
    t.is(answer[0]![0], 0x17, 'the alert is an encrypted record');
    t.throws(() => p.client.receive(answer[0]!), { code: ErrorCode.NOT_AUTHORIZED });
  }
  const p = awaitingFinished();
  p.server.receive(seal(p.client, RecordType.ClientFinished, [0x00]));
  t.is(p.server.state, 'open');
});

test('ClientFinished with client auth: flag 0x01 and exact lengths, else NotAuthorized', (t) => {
  const suite = ALL_SUITES[0]!;
  const flag = (f: number, r: Buffer) => Buffer.concat([Buffer.of(f), r.subarray(1)]);
  // Each variant breaks one field of the real payload of its own handshake.
  const variants: Array<(real: Buffer) => Buffer> = [
    () => Buffer.of(0x00),
    (r) => Buffer.concat([r, Buffer.of(0)]),
    (r) => r.subarray(0, r.length - 1),
    (r) => flag(0x03, r),
    (r) => flag(0x00, r),
    (r) => (r.writeUInt16BE(r.readUInt16BE(1) + 1, 1), r),
  ];
  for (const variant of variants) {
    const p = awaitingFinished(true);
    const real = Buffer.from(payloadOf(p.client, suite, p.c.sent[1]!));
    const record = seal(p.client, RecordType.ClientFinished, variant(real));
    const answer = refused(t, p.server, record, ErrorCode.NOT_AUTHORIZED, p.s.sent);
    t.throws(() => p.client.receive(answer[0]!), { code: ErrorCode.NOT_AUTHORIZED });
  }
  // The real payload, sealed the same way, is accepted: only the broken field refused it.
  const p = awaitingFinished(true);
  const real = payloadOf(p.client, suite, p.c.sent[1]!);
  t.is(real[0], 0x01);
  const spkiLength = real.readUInt16BE(1);
  t.is(real.length, 1 + 2 + spkiLength + 2 + real.readUInt16BE(3 + spkiLength));
  p.server.receive(seal(p.client, RecordType.ClientFinished, real));
  t.is(p.server.state, 'open');
  t.is(p.s.info?.clientKey?.fingerprint(), clientKey.publicKey.fingerprint());
});

test('the client refuses a ServerHello with another suite or a trailing byte, and a proof that fails', (t) => {
  let p = manual();
  p.server.receive(p.hello);
  const sh = Buffer.from(p.s.sent[0]!);
  sh[10] = 0x03;
  t.deepEqual(refused(t, p.client, sh, ErrorCode.HANDSHAKE, p.c.sent), [alertFrame(0x0005)]);
  p = manual();
  p.server.receive(p.hello);
  t.deepEqual(
    refused(
      t,
      p.client,
      withBody(Buffer.concat([p.s.sent[0]!, Buffer.of(0)])),
      ErrorCode.HANDSHAKE,
      p.c.sent,
    ),
    [alertFrame(0x0005)],
  );
  p = manual();
  p.server.receive(p.hello);
  p.client.receive(p.s.sent[0]!);
  const sf = Buffer.from(p.s.sent[1]!);
  sf[sf.length - 1]! ^= 1;
  const err = t.throws(() => p.client.receive(sf), { code: ErrorCode.HANDSHAKE });
  t.is(err?.message, 'handshake: server proof did not verify');
});

test('an open client accepts the plaintext alert that answers its ClientFinished, until the server is heard from', (t) => {
  // The server refuses a ClientFinished that does not open with a plaintext HandshakeFailed.
  let p = manual();
  p.server.receive(p.hello);
  p.client.receive(Buffer.concat(p.s.sent));
  t.is(p.client.state, 'open');
  const finished = Buffer.from(p.c.sent[1]!);
  finished[finished.length - 1]! ^= 1;
  const answer = refused(t, p.server, finished, ErrorCode.HANDSHAKE, p.s.sent);
  t.deepEqual(answer, [alertFrame(0x0005)]);
  // The client, already open, reports the server's verdict, not a protocol error.
  refused(t, p.client, answer[0]!, ErrorCode.HANDSHAKE, p.c.sent);
  // The same for the plaintext Timeout of a server whose handshake timeout expired meanwhile.
  p = manual();
  p.server.receive(p.hello);
  p.client.receive(Buffer.concat(p.s.sent));
  t.deepEqual(refused(t, p.client, alertFrame(0x000b), ErrorCode.TIMEOUT, p.c.sent), []);
  // Once a record from the open server has opened, plaintext frames are refused again.
  p = manual();
  p.server.receive(p.hello);
  p.client.receive(Buffer.concat(p.s.sent));
  p.server.receive(Buffer.concat(p.c.sent.slice(1)));
  t.is(p.server.state, 'open');
  const sentBefore = p.s.sent.length;
  p.server.ping(Buffer.alloc(0));
  p.client.receive(Buffer.concat(p.s.sent.slice(sentBefore)));
  refused(t, p.client, alertFrame(0x000b), ErrorCode.PROTOCOL, p.c.sent);
});
