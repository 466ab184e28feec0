/**
 * PROTOCOL.md §D12. The stored datagram handshake vectors must be what the implementation
 * produces today, be shown in PROTOCOL.md, and follow from the document's formulas
 * (§D1–§D4, §2, §6) computed here with raw node:crypto alone (no code from src/). Each
 * block tracks which of its fields were checked; a field nobody checks fails the test.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  constants,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  privateDecrypt,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DGRAM_CLIENT_AUTH_BLOCK,
  DGRAM_DEFAULT_BLOCK,
  PROTOCOL_MD,
  buildDgramVectors,
  dgramKeptOf,
  dgramSuiteBlock,
  readDgramVectors,
  renderDgramVectors,
} from './helpers/dgram-handshake-vectors.js';
import { seededRandom } from './helpers/vectors.js';
import type { Block } from './helpers/vectors.js';
import { ALL_SUITES } from '../src/protocol/suite.js';

const stored = readDgramVectors();
const root = fileURLToPath(new URL('../../', import.meta.url));
const b = (h: string): Buffer => Buffer.from(h, 'hex');

interface S {
  ids: Buffer;
  cipher: string;
  keyLength: number;
  hash: string;
  hlen: number;
  /** An AEAD suite (§D4): AES-256-GCM (0x03) or ChaCha20-Poly1305 (0x04). */
  aead: boolean;
}

const CIPHERS: Record<string, string> = {
  '01': 'aes-128-cbc',
  '02': 'aes-256-cbc',
  '03': 'aes-256-gcm',
  '04': 'chacha20-poly1305',
};

function suiteOf(ids: string): S {
  const [a, sym, h] = ids.split(' ');
  if (a !== '01') throw new Error('asymmetric id');
  const hash = { '01': 'sha256', '02': 'sha384', '03': 'sha512' }[h!]!;
  return {
    ids: b(ids.replace(/ /g, '')),
    cipher: CIPHERS[sym!]!,
    keyLength: sym === '01' ? 16 : 32,
    hash,
    hlen: { sha256: 32, sha384: 48, sha512: 64 }[hash]!,
    aead: sym === '03' || sym === '04',
  };
}

const hk = (s: S, ikm: Buffer, info: string | Buffer, length: number, salt = Buffer.alloc(0)): Buffer =>
  Buffer.from(hkdfSync(s.hash, ikm, salt, typeof info === 'string' ? Buffer.from(info) : info, length));
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const frame = (type: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.of(type), u24(body.length), body]);
const PREAMBLE = b('7345735301');

interface Keys {
  key: Buffer;
  mac: Buffer | null;
  iv: Buffer | null;
}

/** §D4: the keys of an epoch from its traffic secret (Part I's labels). */
function keysOf(s: S, secret: Buffer): Keys {
  return {
    key: hk(s, secret, 'secsess v1 key', s.keyLength),
    mac: s.aead ? null : hk(s, secret, 'secsess v1 mac', s.hlen),
    iv: s.aead ? hk(s, secret, 'secsess v1 iv', 12) : null,
  };
}

/** Opens a §D4 Record packet; throws on any failure. */
function openRecord(
  s: S,
  k: Keys,
  connId: Buffer,
  epoch: number,
  seq: number,
  packet: Buffer,
): { type: number; payload: Buffer } {
  const header = packet.subarray(0, 19);
  const want = Buffer.alloc(19);
  want[0] = 0x47;
  connId.copy(want, 1);
  want.writeUInt32BE(epoch, 9);
  want.writeUIntBE(seq, 13, 6);
  if (!header.equals(want)) throw new Error('header');
  let inner: Buffer;
  if (s.aead) {
    const nonce = Buffer.from(k.iv!);
    const seqBytes = Buffer.alloc(8);
    seqBytes.writeBigUInt64BE(BigInt(seq));
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= seqBytes[i]!;
    const d = createDecipheriv(s.cipher as 'aes-256-gcm', k.key, nonce, { authTagLength: 16 });
    d.setAAD(header);
    d.setAuthTag(packet.subarray(packet.length - 16));
    inner = Buffer.concat([d.update(packet.subarray(19, packet.length - 16)), d.final()]);
  } else {
    const end = packet.length - s.hlen;
    const tag = createHmac(s.hash, k.mac!).update(packet.subarray(0, end)).digest();
    if (!tag.equals(packet.subarray(end))) throw new Error('tag');
    const d = createDecipheriv(s.cipher, k.key, packet.subarray(19, 35));
    inner = Buffer.concat([d.update(packet.subarray(35, end)), d.final()]);
  }
  return { type: inner[0]!, payload: inner.subarray(1) };
}

/** The SSH wire encoding of an RSA public key: key_id is its SHA-256. */
function sshBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const str = (x: Buffer) => Buffer.concat([Buffer.from([0, 0, x.length >> 8, x.length & 0xff]), x]);
  const mpint = (x: Buffer) => {
    let i = 0;
    while (i < x.length && x[i] === 0) i++;
    const d = x.subarray(i);
    return str(d.length && d[0]! & 0x80 ? Buffer.concat([Buffer.of(0), d]) : d);
  };
  return Buffer.concat([
    str(Buffer.from('ssh-rsa')),
    mpint(Buffer.from(jwk.e!, 'base64url')),
    mpint(Buffer.from(jwk.n!, 'base64url')),
  ]);
}

const X25519_PKCS8 = b('302e020100300506032b656e04220420');
const x25519Private = (raw: Buffer) =>
  createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: 'der', type: 'pkcs8' });
const x25519Public = (raw: Buffer) =>
  Buffer.from(createPublicKey(x25519Private(raw)).export({ format: 'jwk' }).x!, 'base64url');

/** An OpenSSH-format private key fixture as a KeyObject (node:crypto reads its PEM). */
function fixtureKey(name: string): KeyObject {
  return createPrivateKey(readFileSync(`${root}sdk/test/fixtures/${name}.key`, 'utf8'));
}

class Checked {
  readonly #seen = new Set<string>();
  constructor(
    readonly t: ExecutionContext,
    readonly block: Block,
    readonly title: string,
  ) {}

  get(name: string): Buffer {
    const v = this.block[name];
    if (v === undefined) throw new Error(`${this.title}: no field ${name}`);
    this.#seen.add(name);
    return b(v);
  }

  is(name: string, value: Buffer | string): void {
    this.#seen.add(name);
    this.t.is(
      this.block[name],
      typeof value === 'string' ? value : value.toString('hex'),
      `${this.title}: ${name}`,
    );
  }

  done(): void {
    this.t.deepEqual(
      Object.keys(this.block).filter((k) => !this.#seen.has(k)),
      [],
      `${this.title}: fields not checked`,
    );
  }
}

/** The fixed inputs, from their seeded streams (helpers/vectors.ts's seededRandom: SHA-256 counter blocks). */
function inputs() {
  const client = seededRandom('client');
  const server = seededRandom('server');
  return {
    token: seededRandom('dgram token')(16),
    connId: seededRandom('dgram conn id')(8),
    cookieSecret: seededRandom('dgram cookie secret')(32),
    clientRandom: client(32),
    preSecret: client(64),
    serverRandom: server(32),
    clientX: seededRandom('client x25519')(32),
    serverX: seededRandom('server x25519')(32),
  };
}

/**
 * Checks one handshake block: the Hello packet (cookie inside), th, master, c2s_0, s2c_0,
 * the proof, the ServerHello packet and its ServerFinished, the ClientFinished (and the
 * HandshakeDone) records. Returns th and the c2s keys for the caller.
 */
function handshake(c: Checked, s: S, cookie: Buffer, flags: number, clientFinishedPayload: Buffer | null) {
  const i = inputs();
  const server = fixtureKey('server-2048');
  const serverPub = createPublicKey(server);
  const ct = b(stored![DGRAM_DEFAULT_BLOCK]!.oaep_ciphertext!);
  const clientHello = frame(
    0x03,
    Buffer.concat([
      PREAMBLE,
      s.ids,
      Buffer.of(flags),
      i.clientRandom,
      x25519Public(i.clientX),
      createHash('sha256').update(sshBlob(serverPub)).digest(),
      u16(ct.length),
      ct,
    ]),
  );
  const helloPacket = Buffer.concat([Buffer.of(0x43), i.token, Buffer.of(16), cookie, clientHello]);
  c.is('hello_packet', helloPacket);
  const serverHello = frame(0x04, Buffer.concat([PREAMBLE, s.ids, i.serverRandom, x25519Public(i.serverX)]));
  c.is('conn_id', i.connId);
  const th = createHash(s.hash)
    .update(Buffer.concat([clientHello, serverHello, i.connId]))
    .digest();
  c.is('transcript_hash', th);
  const shared = diffieHellman({
    privateKey: x25519Private(i.clientX),
    publicKey: createPublicKey(x25519Private(i.serverX)),
  });
  const master = hk(
    s,
    Buffer.concat([i.preSecret, shared]),
    Buffer.concat([Buffer.from('secsess v1 dgram master'), th]),
    s.hlen,
    Buffer.concat([i.clientRandom, i.serverRandom]),
  );
  c.is('master', master);
  const finishedKey = hk(s, master, 'secsess v1 server finished', s.hlen);
  c.is('finished_key', finishedKey);
  const proof = createHmac(s.hash, finishedKey).update(th).digest();
  c.is('server_proof', proof);
  const c2s = hk(s, master, 'secsess v1 dgram c2s', s.hlen);
  const s2c = hk(s, master, 'secsess v1 dgram s2c', s.hlen);
  c.is('c2s_0', c2s);
  c.is('s2c_0', s2c);
  const sk = keysOf(s, s2c);
  const ck = keysOf(s, c2s);
  // The ServerHello packet: token ‖ conn_id ‖ ServerHello frame ‖ ServerFinished record.
  const shp = c.get('server_hello_packet');
  const head = Buffer.concat([Buffer.of(0x44), i.token, i.connId, serverHello]);
  c.t.deepEqual(shp.subarray(0, head.length), head, `${c.title}: server_hello_packet head`);
  const sf = openRecord(s, sk, i.connId, 0, 0, shp.subarray(head.length));
  c.t.is(sf.type, 0x10);
  c.t.deepEqual(sf.payload, proof, `${c.title}: ServerFinished carries the proof`);
  c.t.true(shp.length <= helloPacket.length, 'amplification bound');
  if (clientFinishedPayload) {
    const cf = openRecord(s, ck, i.connId, 0, 0, c.get('client_finished_record'));
    c.t.is(cf.type, 0x11);
    c.t.deepEqual(cf.payload, clientFinishedPayload);
  }
  if ('handshake_done_record' in c.block) {
    const hd = openRecord(s, sk, i.connId, 0, 1, c.get('handshake_done_record'));
    c.t.is(hd.type, 0x12);
    c.t.is(hd.payload.length, 0);
  }
  // The OAEP ciphertext (Part I's kept one) decrypts to this pre_secret under the server key.
  const decrypted = privateDecrypt(
    {
      key: server,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('secsess v1 key transport'),
    },
    ct,
  );
  c.t.deepEqual(decrypted, i.preSecret);
  return { th, i, clientHello, serverHello };
}

test('the stored datagram handshake vectors are what the implementation produces today', (t) => {
  t.truthy(stored, 'run npm run vectors');
  t.deepEqual(buildDgramVectors(dgramKeptOf(stored)), stored);
});

test('PROTOCOL.md shows the stored vectors', (t) => {
  t.true(readFileSync(PROTOCOL_MD, 'utf8').includes(renderDgramVectors(stored!)));
});

test('default block: cookie, every packet of the KeyRequest exchange, the key schedule and records, from §D1–§D4', (t) => {
  const c = new Checked(t, stored![DGRAM_DEFAULT_BLOCK]!, DGRAM_DEFAULT_BLOCK);
  const s = suiteOf('01 02 01');
  c.is('suite', 'RSA-OAEP-SHA256 / AES-256-CBC / HMAC-SHA-256 (ids 01 02 01)');
  c.is('server_key', 'sdk/test/fixtures/server-2048.key');
  const serverPub = createPublicKey(fixtureKey('server-2048'));
  const keyId = createHash('sha256').update(sshBlob(serverPub)).digest();
  c.is('key_id', keyId);
  c.is('server_key_fingerprint', `SHA256:${keyId.toString('base64').replace(/=+$/, '')}`);
  c.is('client_source', '192.0.2.10 port 50000');
  const i = inputs();
  c.is('token', i.token);
  c.is('cookie_secret', i.cookieSecret);
  // §D2: HMAC-SHA-256(secret, "secsess v1 cookie" ‖ u8 family ‖ address ‖ u16 port), 16 bytes.
  const cookie = createHmac('sha256', i.cookieSecret)
    .update(
      Buffer.concat([
        Buffer.from('secsess v1 cookie'),
        Buffer.of(4),
        Buffer.from([192, 0, 2, 10]),
        u16(50_000),
      ]),
    )
    .digest()
    .subarray(0, 16);
  c.is('cookie', cookie);
  const keyRequest = frame(0x01, PREAMBLE);
  c.is('key_request_1_head', Buffer.concat([Buffer.of(0x41), i.token, Buffer.of(0), keyRequest]));
  c.is('key_request_1_length', '1200 (the head, then zero bytes)');
  c.is('cookie_packet', Buffer.concat([Buffer.of(0x45), i.token, cookie]));
  c.is('key_request_2_head', Buffer.concat([Buffer.of(0x41), i.token, Buffer.of(16), cookie, keyRequest]));
  c.is('key_request_2_length', '1200 (the head, then zero bytes)');
  const spki = serverPub.export({ format: 'der', type: 'spki' });
  c.is(
    'key_response_packet',
    Buffer.concat([Buffer.of(0x42), i.token, frame(0x02, Buffer.concat([PREAMBLE, u16(spki.length), spki]))]),
  );
  c.is('client_random', i.clientRandom);
  c.is('pre_secret', i.preSecret);
  c.is('client_x25519_private', i.clientX);
  c.is('server_random', i.serverRandom);
  c.is('server_x25519_private', i.serverX);
  c.is('oaep_ciphertext', b(stored![DGRAM_DEFAULT_BLOCK]!.oaep_ciphertext!));
  c.is('client_finished_payload', '00');
  const h = handshake(c, s, cookie, 0, Buffer.of(0));
  c.is('client_hello', h.clientHello);
  c.is('server_hello', h.serverHello);
  c.done();
});

test('client authentication block: the dgram signature label, the ClientFinished payload and record', (t) => {
  const c = new Checked(t, stored![DGRAM_CLIENT_AUTH_BLOCK]!, DGRAM_CLIENT_AUTH_BLOCK);
  const s = suiteOf('01 02 01');
  c.is('client_key', 'sdk/test/fixtures/client-2048.key');
  const clientPub = createPublicKey(fixtureKey('client-2048'));
  const fp = createHash('sha256').update(sshBlob(clientPub)).digest();
  c.is('client_key_fingerprint', `SHA256:${fp.toString('base64').replace(/=+$/, '')}`);
  c.is('client_hello_flags', '01');
  const spki = clientPub.export({ format: 'der', type: 'spki' });
  c.is('client_spki', spki);
  const signature = c.get('client_signature');
  const payload = Buffer.concat([Buffer.of(1), u16(spki.length), spki, u16(signature.length), signature]);
  c.is('client_finished_payload', payload);
  const cookie = b(stored![DGRAM_DEFAULT_BLOCK]!.cookie!);
  const h = handshake(c, s, cookie, 1, payload);
  const input = Buffer.concat([Buffer.from('secsess v1 dgram client auth\0'), h.th]);
  c.is('signature_input', input);
  t.true(
    verify(
      'sha256',
      input,
      { key: clientPub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
    ),
    'the kept signature verifies over the dgram label and th',
  );
  t.false(
    verify(
      'sha256',
      Buffer.concat([Buffer.from('secsess v1 client auth\0'), h.th]),
      { key: clientPub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
    ),
    'and not over Part I’s label',
  );
  c.done();
});

for (const suite of ALL_SUITES.slice(1)) {
  const title = dgramSuiteBlock(suite);
  test(`${title}: the same inputs, only the suite differs`, (t) => {
    const c = new Checked(t, stored![title]!, title);
    const idsText = suite.ids.map((x) => x.toString(16).padStart(2, '0')).join(' ');
    c.is('suite_ids', idsText);
    handshake(c, suiteOf(idsText), b(stored![DGRAM_DEFAULT_BLOCK]!.cookie!), 0, Buffer.of(0));
    c.done();
  });
}
