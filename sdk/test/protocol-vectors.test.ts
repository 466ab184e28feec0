/**
 * PROTOCOL.md §11. The stored vectors must be what the implementation produces today, be
 * shown in PROTOCOL.md, and — the point of vectors — every printed value must follow from
 * the document's formulas computed here with raw node:crypto alone (no code from src/).
 * Each block tracks which of its fields were checked; a field nobody checks fails the test.
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
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ALL_SUITES, ServerConnection } from '../src/protocol/index.js';
import { maxRecordBody } from '../src/protocol/record-layer.js';
import {
  CLIENT_AUTH_BLOCK,
  DEFAULT_BLOCK,
  HALF_CLOSE_BLOCK,
  KEY_REQUEST_BLOCK,
  PROTOCOL_MD,
  buildVectors,
  keptOf,
  readVectors,
  renderVectors,
  seededRandom,
} from './helpers/vectors.js';
import type { Block } from './helpers/vectors.js';
import { Endpoint, fixturePrivateKey } from './helpers/protocol-pair.js';

const stored = readVectors();
const root = fileURLToPath(new URL('../../', import.meta.url));

// ---- PROTOCOL.md's definitions, with node:crypto only ----

interface S {
  cipher: string;
  keyLength: number;
  hash: string;
  hlen: number;
  /** An AEAD suite (§5 "AEAD suites"): AES-256-GCM (0x03) or ChaCha20-Poly1305 (0x04). */
  aead: boolean;
}

function suiteOf(ids: string): S {
  const [a, sym, h] = ids.split(' ');
  if (a !== '01') throw new Error('asymmetric id');
  const cipher = { '01': 'aes-128-cbc', '02': 'aes-256-cbc', '03': 'aes-256-gcm', '04': 'chacha20-poly1305' }[
    sym!
  ]!;
  const hash = { '01': 'sha256', '02': 'sha384', '03': 'sha512' }[h!]!;
  return {
    cipher,
    keyLength: sym === '01' ? 16 : 32,
    hash,
    hlen: { sha256: 32, sha384: 48, sha512: 64 }[hash]!,
    aead: sym === '03' || sym === '04',
  };
}

const b = (h: string): Buffer => Buffer.from(h, 'hex');
const hk = (s: S, ikm: Buffer, info: string | Buffer, length: number, salt = Buffer.alloc(0)): Buffer =>
  Buffer.from(hkdfSync(s.hash, ikm, salt, typeof info === 'string' ? Buffer.from(info) : info, length));
const u64 = (n: number): Buffer => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(n));
  return out;
};

interface Keys {
  key: Buffer;
  mac: Buffer | null;
  iv: Buffer | null;
}

function keysOf(s: S, secret: Buffer): Keys {
  return {
    key: hk(s, secret, 'secsess v1 key', s.keyLength),
    mac: s.aead ? null : hk(s, secret, 'secsess v1 mac', s.hlen),
    iv: s.aead ? hk(s, secret, 'secsess v1 iv', 12) : null,
  };
}

/** Opens a record with the receiver's rules of §5; throws on any failure. */
function openRecord(s: S, k: Keys, seq: number, record: Buffer): { type: number; payload: Buffer } {
  if (record[0] !== 0x17 || record.readUIntBE(1, 3) !== record.length - 4) throw new Error('frame');
  let plain: Buffer;
  if (s.aead) {
    // AES-256-GCM, or ChaCha20-Poly1305 of RFC 8439 (96-bit nonce); tag 16 bytes for both.
    const nonce = Buffer.from(k.iv!);
    const seqBytes = u64(seq);
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= seqBytes[i]!;
    const d = createDecipheriv(s.cipher as 'aes-256-gcm', k.key, nonce, { authTagLength: 16 });
    d.setAAD(Buffer.concat([seqBytes, record.subarray(0, 4)]));
    d.setAuthTag(record.subarray(record.length - 16));
    plain = Buffer.concat([d.update(record.subarray(4, record.length - 16)), d.final()]);
  } else {
    const end = record.length - s.hlen;
    const tag = createHmac(s.hash, k.mac!).update(u64(seq)).update(record.subarray(0, end)).digest();
    if (!tag.equals(record.subarray(end))) throw new Error('tag');
    const d = createDecipheriv(s.cipher, k.key, record.subarray(4, 20));
    plain = Buffer.concat([d.update(record.subarray(20, end)), d.final()]);
  }
  if (plain.readBigUInt64BE(0) !== BigInt(seq)) throw new Error('inner seq');
  if (plain.readUInt32BE(9) !== plain.length - 13) throw new Error('inner length');
  return { type: plain[8]!, payload: plain.subarray(13) };
}

/** The SSH wire encoding of an RSA public key (RFC 4251 string and mpint). */
function sshBlob(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  const str = (x: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(x.length);
    return Buffer.concat([len, x]);
  };
  const mpint = (x: Buffer) => {
    let i = 0;
    while (i < x.length && x[i] === 0) i++;
    const digits = x.subarray(i);
    return str(digits.length && digits[0]! & 0x80 ? Buffer.concat([Buffer.of(0), digits]) : digits);
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

// ---- checking a block field by field ----

class Checked {
  readonly #seen = new Set<string>();
  constructor(
    readonly t: ExecutionContext,
    readonly block: Block,
    readonly title: string,
  ) {}

  /** The field's bytes, marked as checked by the caller's use. */
  get(name: string): Buffer {
    const v = this.block[name];
    if (v === undefined) throw new Error(`${this.title}: no field ${name}`);
    this.#seen.add(name);
    return b(v);
  }

  /** Asserts the field equals `value` (bytes as hex, or text). */
  is(name: string, value: Buffer | string): void {
    this.#seen.add(name);
    const want = typeof value === 'string' ? value : value.toString('hex');
    this.t.is(this.block[name], want, `${this.title}: ${name}`);
  }

  /** Opens `name` as record `seq` and checks its type and payload against the field `payloadField` (or bytes). */
  record(s: S, k: Keys, seq: number, name: string, type: number, payload: Buffer): void {
    const opened = openRecord(s, k, seq, this.get(name));
    this.t.is(opened.type, type, `${this.title}: ${name} type`);
    this.t.is(opened.payload.toString('hex'), payload.toString('hex'), `${this.title}: ${name} payload`);
  }

  keys(s: S, dir: string, n: number, secret: Buffer): Keys {
    const k = keysOf(s, secret);
    this.is(`${dir}_cipher_key_${n}`, k.key);
    if (k.mac) this.is(`${dir}_mac_key_${n}`, k.mac);
    if (k.iv) this.is(`${dir}_iv_${n}`, k.iv);
    return k;
  }

  done(): void {
    const unchecked = Object.keys(this.block).filter((k) => !this.#seen.has(k));
    this.t.deepEqual(unchecked, [], `${this.title}: fields not checked`);
  }
}

/** th, master, finished_key, server_proof, traffic secrets and keys: §4. */
function schedule(c: Checked, s: S, frames: Buffer[], d: Checked) {
  const th = createHash(s.hash).update(Buffer.concat(frames)).digest();
  c.is('transcript_hash', th);
  const shared = d.get('x25519_shared');
  const master = hk(
    s,
    Buffer.concat([d.get('pre_secret'), shared]),
    Buffer.concat([Buffer.from('secsess v1 master'), th]),
    s.hlen,
    Buffer.concat([d.get('client_random'), d.get('server_random')]),
  );
  if ('master' in c.block) c.is('master', master);
  const finishedKey = hk(s, master, 'secsess v1 server finished', s.hlen);
  if ('finished_key' in c.block) c.is('finished_key', finishedKey);
  // Part II §D9: the stream session's exporter, the root of a datagram channel's keys.
  if ('exporter' in c.block) c.is('exporter', hk(s, master, 'secsess v1 exporter', s.hlen));
  const proof = createHmac(s.hash, finishedKey).update(th).digest();
  c.is('server_proof', proof);
  const c2s = hk(s, master, 'secsess v1 c2s traffic', s.hlen);
  const s2c = hk(s, master, 'secsess v1 s2c traffic', s.hlen);
  if ('c2s_traffic_0' in c.block) c.is('c2s_traffic_0', c2s);
  if ('s2c_traffic_0' in c.block) c.is('s2c_traffic_0', s2c);
  const full = 'c2s_cipher_key_0' in c.block;
  return {
    th,
    proof,
    c2s,
    c2sKeys: full ? c.keys(s, 'c2s', 0, c2s) : keysOf(s, c2s),
    s2cKeys: full ? c.keys(s, 's2c', 0, s2c) : keysOf(s, s2c),
  };
}

// ---- the tests ----

test('the stored vectors are exactly what the implementation produces today', (t) => {
  t.truthy(stored, 'sdk/test/fixtures/vectors.json is missing: run npm run vectors');
  t.deepEqual(buildVectors(keptOf(stored)), stored);
});

test('PROTOCOL.md shows the stored vectors', (t) => {
  t.true(readFileSync(PROTOCOL_MD, 'utf8').includes(renderVectors(stored!)), 'run npm run vectors');
});

test('HKDF with salt "" equals HKDF with Hlen zero bytes of salt, for every hash (§4)', (t) => {
  for (const [hash, hlen] of [
    ['sha256', 32],
    ['sha384', 48],
    ['sha512', 64],
  ] as const) {
    const ikm = Buffer.from('ikm');
    t.deepEqual(
      Buffer.from(hkdfSync(hash, ikm, Buffer.alloc(0), Buffer.from('x'), hlen)),
      Buffer.from(hkdfSync(hash, ikm, Buffer.alloc(hlen), Buffer.from('x'), hlen)),
    );
  }
});

test('default block: every value follows from PROTOCOL.md with raw node:crypto', (t) => {
  const c = new Checked(t, stored![DEFAULT_BLOCK]!, DEFAULT_BLOCK);
  const s = suiteOf('01 02 01');
  c.is('suite', 'RSA-OAEP-SHA256 / AES-256-CBC / HMAC-SHA-256 (ids 01 02 01)');
  t.true(existsSync(root + c.block.server_key!));
  c.get('server_key');
  const priv = fixturePrivateKey('server-2048').keyObject;
  const blob = sshBlob(createPublicKey(priv));
  c.is('server_key_ssh_blob', blob);
  const keyId = createHash('sha256').update(blob).digest();
  c.is('key_id', keyId);
  c.is('server_key_fingerprint', 'SHA256:' + keyId.toString('base64').replace(/=+$/, ''));
  c.is('client_random', seededRandom('client')(32));
  c.is('server_random', seededRandom('server')(32));
  c.is('client_x25519_public', x25519Public(c.get('client_x25519_private')));
  c.is('server_x25519_public', x25519Public(c.get('server_x25519_private')));
  c.is(
    'x25519_shared',
    diffieHellman({
      privateKey: x25519Private(c.get('client_x25519_private')),
      publicKey: createPublicKey(x25519Private(c.get('server_x25519_private'))),
    }),
  );
  const oaepOptions = {
    key: priv,
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: 'sha256',
    oaepLabel: Buffer.from('secsess v1 key transport'),
  };
  c.is('pre_secret', privateDecrypt(oaepOptions, c.get('oaep_ciphertext')));

  // The hellos, field by field (§2).
  const ct = c.get('oaep_ciphertext');
  const chBody = Buffer.concat([
    b('7345735301'),
    b('010201'),
    b('00'),
    c.get('client_random'),
    c.get('client_x25519_public'),
    keyId,
    Buffer.from([ct.length >> 8, ct.length & 0xff]),
    ct,
  ]);
  const frame = (type: number, body: Buffer) =>
    Buffer.concat([
      Buffer.from([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
      body,
    ]);
  c.is('client_hello', frame(0x03, chBody));
  const shBody = Buffer.concat([
    b('7345735301'),
    b('010201'),
    c.get('server_random'),
    c.get('server_x25519_public'),
  ]);
  c.is('server_hello', frame(0x04, shBody));

  const k = schedule(c, s, [c.get('client_hello'), c.get('server_hello')], c);
  const text = (name: string, value: string) => {
    c.is(name, Buffer.from(value));
    return Buffer.from(value);
  };
  c.record(s, k.s2cKeys, 0, 'server_finished_record', 0x10, k.proof);
  c.record(s, k.c2sKeys, 0, 'client_finished_record', 0x11, c.get('client_finished_payload'));
  c.is('client_finished_payload', '00');
  c.record(s, k.c2sKeys, 1, 'c2s_data_record', 0x01, text('c2s_data_payload', 'hello, secsess'));
  c.record(s, k.s2cKeys, 1, 's2c_data_record', 0x01, text('s2c_data_payload', 'hello, client'));
  c.record(s, k.c2sKeys, 2, 'c2s_datamore_record', 0x02, text('c2s_datamore_payload', 'a fragmented mes'));
  c.record(s, k.c2sKeys, 3, 'c2s_data_final_record', 0x01, text('c2s_data_final_payload', 'sage'));
  c.is(
    'c2s_databatch_payload',
    Buffer.concat([b('00000003'), Buffer.from('one'), b('00000003'), Buffer.from('two')]),
  );
  c.record(s, k.c2sKeys, 4, 'c2s_databatch_record', 0x03, c.get('c2s_databatch_payload'));
  const ping = text('c2s_ping_payload', 'ping');
  c.record(s, k.c2sKeys, 5, 'c2s_ping_record', 0x05, ping);
  c.record(s, k.s2cKeys, 2, 's2c_pong_record', 0x06, ping);
  c.record(s, k.c2sKeys, 6, 'c2s_keyupdate_record', 0x07, Buffer.alloc(0));
  // After KeyUpdate the sender's records use next T; seq runs on.
  const c2s1 = hk(s, k.c2s, 'secsess v1 update', s.hlen);
  c.is('c2s_traffic_1', c2s1);
  const keys1 = c.keys(s, 'c2s', 1, c2s1);
  c.is('c2s_close_payload', Buffer.concat([b('03e8'), Buffer.from('bye')]));
  c.record(s, keys1, 7, 'c2s_close_record', 0x04, c.get('c2s_close_payload'));
  t.throws(() => openRecord(s, k.c2sKeys, 7, c.get('c2s_close_record')), { message: 'tag' });
  c.is('s2c_close_payload', '03e8');
  c.record(s, k.s2cKeys, 3, 's2c_close_record', 0x04, c.get('s2c_close_payload'));
  c.done();
});

test('every other suite: the same inputs give these values and records', (t) => {
  const d = new Checked(t, stored![DEFAULT_BLOCK]!, DEFAULT_BLOCK);
  const titles = Object.keys(stored!).filter((k) => k.startsWith('suite '));
  t.is(
    titles.length,
    11,
    'AES-128-CBC and AES-256-CBC with SHA-256/384/512, AES-256-GCM and ChaCha20-Poly1305 with all three',
  );
  for (const title of titles) {
    const c = new Checked(t, stored![title]!, title);
    const ids = c.block.suite_ids!;
    c.get('suite_ids');
    const s = suiteOf(ids);
    // The hellos are the default block's with the suite field (frame bytes 9–11) replaced.
    const withSuite = (f: Buffer) =>
      Buffer.concat([f.subarray(0, 9), b(ids.replace(/ /g, '')), f.subarray(12)]);
    const k = schedule(c, s, [withSuite(d.get('client_hello')), withSuite(d.get('server_hello'))], d);
    c.record(s, k.s2cKeys, 0, 'server_finished_record', 0x10, k.proof);
    c.record(s, k.c2sKeys, 0, 'client_finished_record', 0x11, b('00'));
    c.record(s, k.c2sKeys, 1, 'c2s_data_record', 0x01, Buffer.from('hello, secsess'));
    c.record(s, k.c2sKeys, 2, 'c2s_end_record', 0x09, Buffer.alloc(0));
    c.done();
  }
});

test('KeyRequest block: the key frames and the transcript that covers them', (t) => {
  const d = new Checked(t, stored![DEFAULT_BLOCK]!, DEFAULT_BLOCK);
  const c = new Checked(t, stored![KEY_REQUEST_BLOCK]!, KEY_REQUEST_BLOCK);
  const s = suiteOf('01 02 01');
  c.is('key_request', '010000057345735301');
  const spki = createPublicKey(fixturePrivateKey('server-2048').keyObject).export({
    type: 'spki',
    format: 'der',
  });
  const body = Buffer.concat([b('7345735301'), Buffer.from([spki.length >> 8, spki.length & 0xff]), spki]);
  c.is('key_response', Buffer.concat([Buffer.from([0x02, 0, body.length >> 8, body.length & 0xff]), body]));
  const k = schedule(
    c,
    s,
    [c.get('key_request'), c.get('key_response'), d.get('client_hello'), d.get('server_hello')],
    d,
  );
  c.record(s, k.s2cKeys, 0, 'server_finished_record', 0x10, k.proof);
  c.record(s, k.c2sKeys, 0, 'client_finished_record', 0x11, b('00'));
  c.done();
});

test('client-auth block: signature input, a signature that verifies, ClientFinished payload and record', (t) => {
  const d = new Checked(t, stored![DEFAULT_BLOCK]!, DEFAULT_BLOCK);
  const c = new Checked(t, stored![CLIENT_AUTH_BLOCK]!, CLIENT_AUTH_BLOCK);
  const s = suiteOf('01 02 01');
  const clientKey = fixturePrivateKey('client-2048');
  t.true(existsSync(root + c.block.client_key!));
  c.get('client_key');
  const keyId = createHash('sha256').update(sshBlob(clientKey.publicKey.keyObject)).digest();
  c.is('client_key_fingerprint', 'SHA256:' + keyId.toString('base64').replace(/=+$/, ''));
  c.is('client_hello_flags', '01');
  const hello = Buffer.from(d.get('client_hello'));
  hello[12] = 0x01;
  const k = schedule(c, s, [hello, d.get('server_hello')], d);
  c.record(s, k.s2cKeys, 0, 'server_finished_record', 0x10, k.proof);
  c.is('signature_input', Buffer.concat([Buffer.from('secsess v1 client auth\0'), k.th]));
  const spki = createPublicKey(clientKey.keyObject).export({ type: 'spki', format: 'der' });
  c.is('client_spki', spki);
  // PSS is randomized: the printed signature is checked by verifying it.
  const signature = c.get('client_signature');
  t.true(
    verify(
      'sha256',
      c.get('signature_input'),
      {
        key: createPublicKey({ key: spki, format: 'der', type: 'spki' }),
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      },
      signature,
    ),
  );
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const payload = Buffer.concat([b('01'), u16(spki.length), spki, u16(signature.length), signature]);
  c.is('client_finished_payload', payload);
  c.record(s, k.c2sKeys, 0, 'client_finished_record', 0x11, payload);
  c.done();

  // And a server with the same fixed inputs accepts exactly these bytes.
  const e = new Endpoint();
  const server = new ServerConnection(e.handler(), {
    keys: [fixturePrivateKey('server-2048')],
    random: seededRandom('server'),
    ephemeralPrivate: seededRandom('server x25519')(32),
  });
  server.receive(hello);
  server.receive(c.get('client_finished_record'));
  t.is(server.state, 'open');
  t.is(e.info?.clientKey?.fingerprint(), clientKey.fingerprint());
});

test('half-close block: End both ways, then Close 1000 both ways, on the default handshake', (t) => {
  const d = new Checked(t, stored![DEFAULT_BLOCK]!, DEFAULT_BLOCK);
  const c = new Checked(t, stored![HALF_CLOSE_BLOCK]!, HALF_CLOSE_BLOCK);
  const s = suiteOf('01 02 01');
  // The default block's handshake: its hellos give th and the traffic keys (§4).
  const k = schedule(d, s, [d.get('client_hello'), d.get('server_hello')], d);
  const text = (name: string, value: string) => {
    c.is(name, Buffer.from(value));
    return Buffer.from(value);
  };
  const empty = Buffer.alloc(0);
  c.record(s, k.c2sKeys, 1, 'c2s_data_record', 0x01, text('c2s_data_payload', 'request'));
  c.record(s, k.c2sKeys, 2, 'c2s_end_record', 0x09, empty);
  c.record(s, k.s2cKeys, 1, 's2c_data_record', 0x01, text('s2c_data_payload', 'reply'));
  c.record(s, k.s2cKeys, 2, 's2c_end_record', 0x09, empty);
  // An End is bound to its seq like every record: at any other seq its tag fails.
  for (const seq of [1, 3]) {
    t.throws(() => openRecord(s, k.c2sKeys, seq, c.get('c2s_end_record')), { message: 'tag' });
    t.throws(() => openRecord(s, k.s2cKeys, seq, c.get('s2c_end_record')), { message: 'tag' });
  }
  // Both directions ended: the server's Close 1000 "" right after its End, the client's answering.
  c.is('s2c_close_payload', '03e8');
  c.record(s, k.s2cKeys, 3, 's2c_close_record', 0x04, c.get('s2c_close_payload'));
  c.is('c2s_close_payload', '03e8');
  c.record(s, k.c2sKeys, 3, 'c2s_close_record', 0x04, c.get('c2s_close_payload'));
  // Same key, seq, IV and payload as the default block's s2c Close, so the same bytes.
  t.is(c.block.s2c_close_record, d.block.s2c_close_record);
  c.done();
});

test("PROTOCOL.md §1's limit table is what the record layer computes for every suite", (t) => {
  const doc = readFileSync(PROTOCOL_MD, 'utf8');
  const num = (s: string) => Number(s.replace(/\s/g, ''));
  for (const suite of ALL_SUITES) {
    const symmetric = suite.mode === 'aead' ? suite.symmetric : 'AES-128-CBC or AES-256-CBC';
    const row = doc.split('\n').find((line) => line.startsWith(`| ${symmetric} / ${suite.hash} |`));
    t.truthy(row, `${symmetric} / ${suite.hash}`);
    const [record, first, clientFirst] = row!.split('|').slice(2, 5).map(num);
    t.is(record, maxRecordBody(suite, 65536));
    t.is(first, maxRecordBody(suite, 1 + 2 + 550 + 2 + 512));
    t.is(clientFirst, maxRecordBody(suite, suite.hashLength));
  }
});
