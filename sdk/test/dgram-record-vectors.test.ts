/**
 * PROTOCOL.md §D11. The stored datagram record vectors must be what the implementation
 * produces today and be shown in PROTOCOL.md; every printed value must follow from the
 * document's formulas (§D4, §D9), computed here with node:crypto alone; and the
 * implementation must open every record. Each block tracks which fields were checked: a
 * field nobody checks fails the test.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramInbound } from '../src/protocol/datagram/contexts.js';
import { datagramMaster, exporterSecret } from '../src/protocol/datagram/key-schedule.js';
import { ALL_SUITES } from '../src/protocol/suite.js';
import {
  BEGIN,
  END,
  FAR_SEQ,
  PROTOCOL_MD,
  RECORDS,
  buildDgramRecordVectors,
  readDgramRecordVectors,
  renderDgramRecordVectors,
} from './helpers/dgram-record-vectors.js';
import { seededRandom } from './helpers/vectors.js';
import type { Block } from './helpers/vectors.js';

const stored = readDgramRecordVectors();

// ---- PROTOCOL.md's definitions, with node:crypto only ----

interface S {
  readonly symmetric: string;
  readonly hashName: string;
  readonly cipher: string;
  readonly keyLength: number;
  readonly hash: string;
  readonly hlen: number;
  /** An AEAD suite (§D4): AES-256-GCM (0x03) or ChaCha20-Poly1305 (0x04). */
  readonly aead: boolean;
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
  const cipher = CIPHERS[sym!]!;
  const hash = { '01': 'sha256', '02': 'sha384', '03': 'sha512' }[h!]!;
  return {
    symmetric: { '01': 'AES-128-CBC', '02': 'AES-256-CBC', '03': 'AES-256-GCM', '04': 'ChaCha20-Poly1305' }[
      sym!
    ]!,
    hashName: { '01': 'SHA-256', '02': 'SHA-384', '03': 'SHA-512' }[h!]!,
    cipher,
    keyLength: sym === '01' ? 16 : 32,
    hash,
    hlen: { sha256: 32, sha384: 48, sha512: 64 }[hash]!,
    aead: sym === '03' || sym === '04',
  };
}

const hk = (s: S, ikm: Buffer, info: string, length: number): Buffer =>
  Buffer.from(hkdfSync(s.hash, ikm, Buffer.alloc(0), Buffer.from(info, 'ascii'), length));

interface Keys {
  readonly key: Buffer;
  readonly mac: Buffer | null;
  readonly iv: Buffer | null;
}

const keysOf = (s: S, secret: Buffer): Keys => ({
  key: hk(s, secret, 'secsess v1 key', s.keyLength),
  mac: s.aead ? null : hk(s, secret, 'secsess v1 mac', s.hlen),
  iv: s.aead ? hk(s, secret, 'secsess v1 iv', 12) : null,
});

/** header = 0x47 ‖ conn_id (8) ‖ u32 epoch ‖ u48 seq */
function header(connId: Buffer, epoch: number, seq: number): Buffer {
  const h = Buffer.alloc(19);
  h[0] = 0x47;
  connId.copy(h, 1);
  h.writeUInt32BE(epoch, 9);
  h.writeUIntBE(seq, 13, 6);
  return h;
}

/**
 * The Record packet §D4 defines, built from its parts. CBC: with the IV given (read from the
 * packet under test: IVs are random) and `inner` padded by PKCS#7 unless `padded` is given.
 */
function seal(s: S, k: Keys, head: Buffer, inner: Buffer, iv: Buffer, padded?: Buffer): Buffer {
  if (s.aead) {
    const seq = head.readUIntBE(13, 6);
    const nonce = Buffer.from(k.iv!);
    const u64 = Buffer.alloc(8);
    u64.writeBigUInt64BE(BigInt(seq));
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= u64[i]!;
    const c = createCipheriv(s.cipher as 'aes-256-gcm', k.key, nonce, { authTagLength: 16 });
    c.setAAD(head);
    const ct = Buffer.concat([c.update(inner), c.final()]);
    return Buffer.concat([head, ct, c.getAuthTag()]);
  }
  const n = 16 - (inner.length % 16);
  const plain = padded ?? Buffer.concat([inner, Buffer.alloc(n, n)]);
  const c = createCipheriv(s.cipher, k.key, iv).setAutoPadding(false);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  const tag = createHmac(s.hash, k.mac!).update(head).update(iv).update(ct).digest();
  return Buffer.concat([head, iv, ct, tag]);
}

// ---- checking a block field by field ----

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
    return Buffer.from(v, 'hex');
  }

  is(name: string, value: Buffer | string): void {
    this.#seen.add(name);
    this.t.is(
      this.block[name],
      typeof value === 'string' ? value : value.toString('hex'),
      `${this.title}: ${name}`,
    );
  }

  keys(s: S, secret: Buffer, n: number): Keys {
    const k = keysOf(s, secret);
    this.is(`cipher_key_${n}`, k.key);
    if (k.mac) this.is(`mac_key_${n}`, k.mac);
    if (k.iv) this.is(`iv_${n}`, k.iv);
    return k;
  }

  done(): void {
    const unchecked = Object.keys(this.block).filter((k) => !this.#seen.has(k));
    this.t.deepEqual(unchecked, [], `${this.title}: fields not checked`);
  }
}

test('the stored datagram record vectors are what the implementation produces', (t) => {
  t.truthy(stored, 'sdk/test/fixtures/dgram-record-vectors.json exists (npm run vectors)');
  t.deepEqual(buildDgramRecordVectors(), stored);
});

test('PROTOCOL.md §D11 shows the stored datagram record vectors', (t) => {
  const doc = readFileSync(PROTOCOL_MD, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  t.true(a >= 0 && b > a, 'markers present');
  t.is(doc.slice(a, b + END.length), renderDgramRecordVectors(stored!));
});

test('every suite has a block', (t) => {
  const suites = Object.values(stored!).map((b) => b.suite);
  t.deepEqual([...suites].sort(), [
    '01 01 01',
    '01 01 02',
    '01 01 03',
    '01 02 01',
    '01 02 02',
    '01 02 03',
    '01 03 01',
    '01 03 02',
    '01 03 03',
    '01 04 01',
    '01 04 02',
    '01 04 03',
  ]);
});

for (const [title, block] of Object.entries(stored ?? {})) {
  test(`${title}: every value follows from §D4 and §D9 with node:crypto alone; the implementation opens every record`, (t) => {
    const c = new Checked(t, block, title);
    const s = suiteOf(block.suite!);
    c.is('suite', block.suite!);
    const connId = c.get('conn_id');
    t.is(connId.length, 8);
    // The fixed inputs are the streams' first bytes, as §D11 says.
    t.deepEqual(c.get('T_0'), seededRandom('secsess dgram vectors T_0')(s.hlen));
    t.deepEqual(connId, seededRandom('secsess dgram vectors conn_id')(8));
    const T0 = c.get('T_0');
    const T1 = hk(s, T0, 'secsess v1 dgram epoch', s.hlen);
    c.is('T_1', T1);
    const T2 = hk(s, T1, 'secsess v1 dgram epoch', s.hlen);
    c.is('T_2', T2);
    const keys = [c.keys(s, T0, 0), c.keys(s, T1, 1), c.keys(s, T2, 2)];
    const inbound = new DatagramInbound(T0, {
      set: { symmetric: s.symmetric as 'AES-256-CBC', hash: s.hashName as 'SHA-256' },
      connectionId: connId,
    });
    // The receiver (window mode) reaches epoch 1 on record_e1_s0 and takes epoch 2, E + 1, with
    // its far seq: a jump of the window's top is allowed.
    for (const r of RECORDS) {
      const packet = c.get(r.name);
      const inner = Buffer.concat([Buffer.of(r.type), Buffer.from(r.payload)]);
      const iv = packet.subarray(19, 35);
      const expected = seal(s, keys[r.epoch]!, header(connId, r.epoch, r.seq), inner, iv);
      t.is(packet.toString('hex'), expected.toString('hex'), `${title}: ${r.name} recomputed`);
      if (r.seq === FAR_SEQ) {
        // Every byte of the u48 differs: the order of all six is pinned, not just the low four.
        t.is(packet.subarray(13, 19).toString('hex'), '010203040506', `${title}: ${r.name} seq bytes`);
      }
      const opened = inbound.open(packet);
      t.like(opened, { ok: true, type: r.type, epoch: r.epoch, seq: r.seq }, `${title}: ${r.name} opens`);
      t.is(opened.ok && opened.payload.toString(), r.payload);
    }
    const exporter = c.get('exporter');
    t.deepEqual(exporter, seededRandom('secsess dgram vectors exporter')(s.hlen));
    const base = hk(s, exporter, 'secsess v1 dgram channel', s.hlen);
    c.is('channel_base', base);
    c.is('channel_conn_id', hk(s, base, 'secsess v1 dgram conn id', 8));
    c.is('channel_c2s_0', hk(s, base, 'secsess v1 dgram c2s', s.hlen));
    c.is('channel_s2c_0', hk(s, base, 'secsess v1 dgram s2c', s.hlen));
    const shared = c.get('shared_secret');
    t.deepEqual(shared, seededRandom('secsess dgram vectors shared secret')(32));
    c.is('shared_c2s_0', hk(s, shared, 'secsess v1 dgram c2s', s.hlen));
    c.is('shared_s2c_0', hk(s, shared, 'secsess v1 dgram s2c', s.hlen));
    c.done();
  });
}

test('CBC: records whose tag verifies but whose plaintext is bad are rejected as auth (no padding oracle)', (t) => {
  for (const ids of ['01 01 01', '01 02 01', '01 02 03']) {
    const s = suiteOf(ids);
    const T0 = Buffer.alloc(s.hlen, 3);
    const k = keysOf(s, T0);
    const connId = Buffer.alloc(8);
    const inbound = new DatagramInbound(T0, {
      set: { symmetric: s.symmetric as 'AES-256-CBC', hash: s.hashName as 'SHA-256' },
    });
    const iv = Buffer.alloc(16, 9);
    const cases: [string, Buffer][] = [
      ['padding byte 0', Buffer.concat([Buffer.of(1), Buffer.alloc(15, 0)])],
      ['padding byte 17', Buffer.concat([Buffer.of(1), Buffer.alloc(15, 17)])],
      [
        'padding bytes unequal',
        Buffer.concat([Buffer.of(1, 2, 3), Buffer.alloc(12, 4), Buffer.alloc(1, 13)]),
      ],
      ['empty inner (a whole block of padding)', Buffer.alloc(16, 16)],
    ];
    let seq = 0;
    for (const [name, padded] of cases) {
      const packet = seal(s, k, header(connId, 0, seq++), Buffer.alloc(0), iv, padded);
      t.deepEqual(inbound.open(packet), { ok: false, reason: 'auth' }, `${ids}: ${name}`);
    }
    // The same construction with a good padding opens: the cases above differ only in it.
    const good = seal(s, k, header(connId, 0, seq), Buffer.of(1, 0xaa), iv);
    t.like(inbound.open(good), { ok: true, type: 1 });
    t.is(inbound.counters.authFailures, cases.length);
  }
});

test('AEAD suites: a record built from the formulas with node:crypto opens; one under a nonce without its seq does not', (t) => {
  for (const [ids, symmetric] of [
    ['01 03 01', 'AES-256-GCM'],
    ['01 04 01', 'ChaCha20-Poly1305'],
  ] as const) {
    const s = suiteOf(ids);
    const T0 = Buffer.alloc(32, 4);
    const k = keysOf(s, T0);
    const inbound = new DatagramInbound(T0, { set: { symmetric } });
    const connId = Buffer.alloc(8);
    t.like(
      inbound.open(seal(s, k, header(connId, 0, 5), Buffer.of(1, 2), Buffer.alloc(0))),
      { ok: true, seq: 5 },
      symmetric,
    );
    // Sealed for seq 6 but labelled 7: the nonce and the aad both differ.
    const wrong = seal(s, k, header(connId, 0, 6), Buffer.of(1, 2), Buffer.alloc(0));
    wrong.writeUIntBE(7, 13, 6);
    t.deepEqual(inbound.open(wrong), { ok: false, reason: 'auth' }, symmetric);
  }
});

test('datagramMaster (§D3) and exporterSecret (§D9) follow the formulas, for every suite', (t) => {
  for (const block of Object.values(stored!)) {
    const s = suiteOf(block.suite!);
    const suite = ALL_SUITES.find(
      (x) => x.ids.map((i) => i.toString(16).padStart(2, '0')).join(' ') === block.suite,
    )!;
    const r = seededRandom(`secsess dgram vectors master ${block.suite}`);
    const inputs = {
      preSecret: r(48),
      shared: r(32),
      clientRandom: r(32),
      serverRandom: r(32),
      transcriptHash: r(s.hlen),
    };
    const expected = Buffer.from(
      hkdfSync(
        s.hash,
        Buffer.concat([inputs.preSecret, inputs.shared]),
        Buffer.concat([inputs.clientRandom, inputs.serverRandom]),
        Buffer.concat([Buffer.from('secsess v1 dgram master'), inputs.transcriptHash]),
        s.hlen,
      ),
    );
    const master = datagramMaster(suite, inputs);
    t.is(master.toString('hex'), expected.toString('hex'), `${block.suite}: master`);
    t.is(
      exporterSecret(suite, master).toString('hex'),
      hk(s, master, 'secsess v1 exporter', s.hlen).toString('hex'),
    );
    t.is(inputs.preSecret.length, 48, 'inputs are not consumed');
  }
});
