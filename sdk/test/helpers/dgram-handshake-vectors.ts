/**
 * Test vectors for PROTOCOL.md §D12: fixed keys, randoms, token, cookie secret and conn_id
 * → the exact packets of datagram handshakes.
 *
 *   node --import=tsx --conditions=source sdk/test/helpers/dgram-handshake-vectors.ts --write
 *
 * regenerates sdk/test/fixtures/dgram-handshake-vectors.json and the section between the
 * dgram-handshake-vectors markers in PROTOCOL.md. sdk/test/dgram-handshake-vectors.test.ts
 * checks both against a fresh run and re-derives every value from PROTOCOL.md's formulas
 * with raw node:crypto. Part I's fixed inputs are reused (§11: the client's and server's
 * random streams, X25519 keys, the server key and its kept OAEP ciphertext of the same
 * pre_secret); new here are the token, the cookie secret, the client's address and the
 * conn_id, each from its own seeded stream. The client's PSS signature is randomized, so
 * it is generated once and kept.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PrivateKey } from '@secsess/keys';
import { oaepEncrypt, pssSign, x25519Key, x25519Shared } from '../../src/protocol/asymmetric.js';
import type { RandomSource } from '../../src/protocol/crypto.js';
import { hkdf } from '../../src/protocol/crypto.js';
import { ALL_SUITES, resolveSuite } from '../../src/protocol/suite.js';
import type { Suite } from '../../src/protocol/suite.js';
import { DatagramRecordType } from '../../src/protocol/datagram/constants.js';
import { DatagramOutbound } from '../../src/protocol/datagram/contexts.js';
import { CookieJar } from '../../src/protocol/datagram/cookie.js';
import type { PacketSource } from '../../src/protocol/datagram/cookie.js';
import {
  DGRAM_CLIENT_AUTH_CONTEXT,
  encodeClientFinished,
  handshakeSecrets,
} from '../../src/protocol/datagram/handshake-keys.js';
import {
  decodeHelloPacket,
  decodeKeyRequestPacket,
  decodeServerHelloPacket,
} from '../../src/protocol/datagram/packets.js';
import { DatagramHandshakeGate } from '../../src/protocol/datagram/server-gate.js';
import { exchange } from './dgram-handshake.js';
import type { Exchange } from './dgram-handshake.js';
import { fixturePrivateKey } from './protocol-pair.js';
import { DEFAULT_BLOCK, readVectors, seededRandom } from './vectors.js';
import type { Block, Vectors } from './vectors.js';
import { renderSection, replaceSection as replaceMarked } from './vector-sections.js';

export const DGRAM_HANDSHAKE_VECTORS_PATH = fileURLToPath(
  new URL('../fixtures/dgram-handshake-vectors.json', import.meta.url),
);
export const PROTOCOL_MD = fileURLToPath(new URL('../../../PROTOCOL.md', import.meta.url));
export const DGRAM_BEGIN = '<!-- dgram-handshake-vectors:begin -->';
export const DGRAM_END = '<!-- dgram-handshake-vectors:end -->';

export const DGRAM_DEFAULT_BLOCK = 'dgram: default suite, full exchange with KeyRequest';
export const DGRAM_CLIENT_AUTH_BLOCK = 'dgram: client authentication';
export const dgramSuiteBlock = (s: Suite): string => `dgram: suite ${s.symmetric} / HMAC-${s.hash}`;

/** The client's address as the server sees it (TEST-NET-1) and the cookie clock. */
export const VECTOR_SOURCE: PacketSource = { address: '192.0.2.10', port: 50_000 };

/** What the randomized algorithms produced once. */
export interface DgramKept {
  readonly clientSignature?: string;
}

const hex = (b: Buffer): string => b.toString('hex');
const ids = (s: Suite): string => s.ids.map((i) => i.toString(16).padStart(2, '0')).join(' ');

/** `first`'s bytes for the first draw, then `rest`'s stream: one draw per purpose. */
function chained(first: Buffer, rest: RandomSource): RandomSource {
  let used = false;
  return (n: number) => {
    if (used) return rest(n);
    used = true;
    if (n !== first.length) throw new Error(`vector stream: expected a ${first.length}-byte draw, got ${n}`);
    return Buffer.from(first);
  };
}

export const TOKEN = (): Buffer => seededRandom('dgram token')(16);
export const CONN_ID = (): Buffer => seededRandom('dgram conn id')(8);
export const COOKIE_SECRET = (): Buffer => seededRandom('dgram cookie secret')(32);

/** Part I's kept OAEP ciphertext of the same pre_secret under the same key (§11). */
function keptOaep(): Buffer | null {
  const hexCt = readVectors()?.[DEFAULT_BLOCK]?.oaep_ciphertext;
  return hexCt ? Buffer.from(hexCt, 'hex') : null;
}

const serverKey = (): PrivateKey => fixturePrivateKey('server-2048');

function run(
  suite: Suite,
  opts: { keyRequest?: boolean; clientKey?: PrivateKey } = {},
): Exchange & { preSecret: Buffer } {
  const key = serverKey();
  let preSecret: Buffer | null = null;
  const cookies = new CookieJar({ now: () => 0, random: seededRandom('dgram cookie secret') });
  const gate = new DatagramHandshakeGate({
    keys: [key],
    cookies,
    random: chained(CONN_ID(), seededRandom('server')),
    ephemeralPrivate: seededRandom('server x25519')(32),
  });
  const x = exchange(
    {
      ...(opts.keyRequest ? {} : { serverKey: key.publicKey, cookie: cookies.cookie(VECTOR_SOURCE) }),
      set: { symmetric: suite.symmetric, hash: suite.hash },
      random: chained(TOKEN(), seededRandom('client')),
      ephemeralPrivate: seededRandom('client x25519')(32),
      ...(opts.clientKey ? { clientKey: opts.clientKey } : {}),
      fixedEncryptedSecret: (secret) => {
        preSecret = Buffer.from(secret);
        return keptOaep() ?? oaepEncrypt(key.publicKey.keyObject, secret);
      },
    },
    {},
    { gate, source: VECTOR_SOURCE },
  );
  return { ...x, preSecret: preSecret! };
}

/** The handshake's key schedule, recomputed from the fixed inputs. */
function schedule(suite: Suite, x: Exchange & { preSecret: Buffer }): Block & { _c2s: string } {
  const hello = decodeHelloPacket(x.packets.find((p) => p.packet[0] === 0x43)!.packet)!;
  const sh = decodeServerHelloPacket(x.packets.find((p) => p.packet[0] === 0x44)!.packet)!;
  const shared = x25519Shared(
    x25519Key(seededRandom('client x25519')(32)).privateKey,
    x25519Key(seededRandom('server x25519')(32)).publicRaw,
  );
  const s = handshakeSecrets(suite, {
    preSecret: Buffer.from(x.preSecret),
    shared,
    clientRandom: seededRandom('client')(32),
    serverRandom: seededRandom('server')(32),
    clientHello: hello.frame,
    serverHello: sh.frame,
    connectionId: sh.connectionId,
  });
  // master again, for display (handshakeSecrets wipes its own).
  const master = hkdf(
    suite.hashName,
    Buffer.concat([
      x.preSecret,
      x25519Shared(
        x25519Key(seededRandom('client x25519')(32)).privateKey,
        x25519Key(seededRandom('server x25519')(32)).publicRaw,
      ),
    ]),
    Buffer.concat([seededRandom('client')(32), seededRandom('server')(32)]),
    Buffer.concat([Buffer.from('secsess v1 dgram master'), s.th]),
    suite.hashLength,
  );
  const finishedKey = hkdf(
    suite.hashName,
    master,
    Buffer.alloc(0),
    Buffer.from('secsess v1 server finished'),
    suite.hashLength,
  );
  return {
    conn_id: hex(sh.connectionId),
    transcript_hash: hex(s.th),
    master: hex(master),
    finished_key: hex(finishedKey),
    server_proof: hex(s.proof),
    c2s_0: hex(s.c2s),
    s2c_0: hex(s.s2c),
    _c2s: hex(s.c2s),
  };
}

function withoutPrivate(b: Block): Block {
  return Object.fromEntries(Object.entries(b).filter(([k]) => !k.startsWith('_')));
}

function packetOf(x: Exchange, type: number, nth = 0): Buffer {
  return x.packets.filter((p) => p.packet[0] === type)[nth]!.packet;
}

/** The bytes of a KeyRequest packet before its zero padding. */
function keyRequestHead(packet: Buffer): Buffer {
  const d = decodeKeyRequestPacket(packet)!;
  return packet.subarray(0, 2 + 16 + (d.cookie ? 16 : 0) + d.frame.length);
}

function defaultBlock(): Block {
  const suite = resolveSuite({});
  const key = serverKey();
  const x = run(suite, { keyRequest: true });
  const types = x.packets.map((p) => p.packet[0]!.toString(16)).join(' ');
  if (types !== '41 45 41 42 43 44 47 47') throw new Error(`vector exchange sent ${types}`);
  const sch = schedule(suite, x);
  const cookie = packetOf(x, 0x45).subarray(17);
  return {
    suite: `RSA-OAEP-SHA256 / AES-256-CBC / HMAC-SHA-256 (ids ${ids(suite)})`,
    server_key: 'sdk/test/fixtures/server-2048.key',
    server_key_fingerprint: key.fingerprint(),
    key_id: hex(key.publicKey.fingerprintBytes()),
    client_source: `${VECTOR_SOURCE.address} port ${VECTOR_SOURCE.port}`,
    token: hex(TOKEN()),
    cookie_secret: hex(COOKIE_SECRET()),
    cookie: hex(cookie),
    key_request_1_head: hex(keyRequestHead(packetOf(x, 0x41, 0))),
    key_request_1_length: '1200 (the head, then zero bytes)',
    cookie_packet: hex(packetOf(x, 0x45)),
    key_request_2_head: hex(keyRequestHead(packetOf(x, 0x41, 1))),
    key_request_2_length: '1200 (the head, then zero bytes)',
    key_response_packet: hex(packetOf(x, 0x42)),
    client_random: hex(seededRandom('client')(32)),
    pre_secret: hex(x.preSecret),
    client_x25519_private: hex(seededRandom('client x25519')(32)),
    oaep_ciphertext: hex(decodeHelloPacket(packetOf(x, 0x43))!.frame.subarray(4 + 5 + 3 + 1 + 96 + 2)),
    client_hello: hex(decodeHelloPacket(packetOf(x, 0x43))!.frame),
    hello_packet: hex(packetOf(x, 0x43)),
    server_random: hex(seededRandom('server')(32)),
    server_x25519_private: hex(seededRandom('server x25519')(32)),
    server_hello: hex(decodeServerHelloPacket(packetOf(x, 0x44))!.frame),
    ...withoutPrivate(sch),
    server_hello_packet: hex(packetOf(x, 0x44)),
    client_finished_payload: '00',
    client_finished_record: hex(x.clientFinished),
    handshake_done_record: hex(x.handshakeDone),
  };
}

function clientAuthBlock(kept: DgramKept): Block {
  const suite = resolveSuite({});
  const clientKey = fixturePrivateKey('client-2048');
  const x = run(suite, { clientKey });
  if (x.verified !== true) throw new Error('vector client auth failed');
  const sch = schedule(suite, x);
  const input = Buffer.concat([DGRAM_CLIENT_AUTH_CONTEXT, Buffer.from(sch.transcript_hash!, 'hex')]);
  const signature = kept.clientSignature
    ? Buffer.from(kept.clientSignature, 'hex')
    : pssSign(clientKey.keyObject, input);
  const spki = clientKey.publicKey.toSpkiDer();
  const payload = encodeClientFinished(spki, signature);
  // Sealed as the client seals it: c2s epoch 0 seq 0, its IV the client stream's next bytes.
  const random = seededRandom('client');
  random(32 + 64);
  const out = new DatagramOutbound(Buffer.from(sch._c2s, 'hex'), {
    connectionId: Buffer.from(sch.conn_id!, 'hex'),
    random,
  });
  return {
    client_key: 'sdk/test/fixtures/client-2048.key',
    client_key_fingerprint: clientKey.fingerprint(),
    client_hello_flags: '01',
    hello_packet: hex(packetOf(x, 0x43)),
    ...withoutPrivate(sch),
    server_hello_packet: hex(packetOf(x, 0x44)),
    signature_input: hex(input),
    client_spki: hex(spki),
    client_signature: hex(signature),
    client_finished_payload: hex(payload),
    client_finished_record: hex(out.seal(DatagramRecordType.ClientFinished, payload)),
  };
}

function otherSuiteBlock(suite: Suite): Block {
  const x = run(suite);
  const sch = schedule(suite, x);
  return {
    suite_ids: ids(suite),
    hello_packet: hex(packetOf(x, 0x43)),
    ...withoutPrivate(sch),
    server_hello_packet: hex(packetOf(x, 0x44)),
    client_finished_record: hex(x.clientFinished),
    handshake_done_record: hex(x.handshakeDone),
  };
}

export function buildDgramVectors(kept: DgramKept = {}): Vectors {
  const out: Vectors = { [DGRAM_DEFAULT_BLOCK]: defaultBlock() };
  out[DGRAM_CLIENT_AUTH_BLOCK] = clientAuthBlock(kept);
  for (const suite of ALL_SUITES.slice(1)) out[dgramSuiteBlock(suite)] = otherSuiteBlock(suite);
  return out;
}

export function readDgramVectors(): Vectors | null {
  return existsSync(DGRAM_HANDSHAKE_VECTORS_PATH)
    ? (JSON.parse(readFileSync(DGRAM_HANDSHAKE_VECTORS_PATH, 'utf8')) as Vectors)
    : null;
}

export function dgramKeptOf(v: Vectors | null): DgramKept {
  return { clientSignature: v?.[DGRAM_CLIENT_AUTH_BLOCK]?.client_signature };
}

/** The PROTOCOL.md section, long hex folded at 64 characters (as §11). */
export function renderDgramVectors(v: Vectors): string {
  return renderSection(DGRAM_BEGIN, DGRAM_END, v);
}

export function replaceDgramSection(doc: string, section: string): string {
  return replaceMarked(doc, DGRAM_BEGIN, DGRAM_END, section);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const vectors = buildDgramVectors(dgramKeptOf(readDgramVectors()));
  writeFileSync(DGRAM_HANDSHAKE_VECTORS_PATH, JSON.stringify(vectors, null, 2) + '\n');
  writeFileSync(
    PROTOCOL_MD,
    replaceDgramSection(readFileSync(PROTOCOL_MD, 'utf8'), renderDgramVectors(vectors)),
  );
  console.log(`wrote ${DGRAM_HANDSHAKE_VECTORS_PATH} and the dgram handshake vectors section of PROTOCOL.md`);
}
