/**
 * The ChaCha20-Poly1305 suites' vectors, read from PROTOCOL.md's text itself (not the
 * fixtures) and checked with node:crypto alone — no code from src/ and no test helper — the
 * way an independent implementer would: derive each direction's `cipher_key` and `iv` from
 * the printed traffic secret (§4, §D4), open every printed record (§5 stream frames, §D4
 * datagram packets) with RFC 8439's AEAD, check its inner header and payload against the
 * prose of §11, §D11 and §D12, and seal the plaintext again to the same bytes. node:crypto's
 * 'chacha20-poly1305' is pinned to RFC 8439 first (§2.8.2's example), and every record is
 * shown not to open as AES-256-GCM or at another seq, so a vector cannot pass by accident.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import test from 'ava';
import type { ExecutionContext } from 'ava';

const doc = readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8');
const b = (hex: string): Buffer => Buffer.from(hex, 'hex');

/** PROTOCOL.md's vector blocks: a bold title, then a fenced block of `name: hex` fields (long values continue on indented lines). */
function blocks(): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const m of doc.matchAll(/^\*\*(.+?)\*\*\n\n```\n([\s\S]*?)\n```$/gm)) {
    const fields: Record<string, string> = {};
    let last = '';
    for (const line of m[2]!.split('\n')) {
      const field = /^([A-Za-z0-9_]+): ?(.*)$/.exec(line);
      if (field) fields[(last = field[1]!)] = field[2]!;
      else if (line.startsWith('  ') && last) fields[last] += line.trim();
    }
    out.set(m[1]!, fields);
  }
  return out;
}

const all = blocks();
const chacha = (prefix: string): [string, Record<string, string>][] =>
  [...all].filter(([title]) => title.startsWith(`${prefix}ChaCha20-Poly1305 / `));

/** The suite's hash from its ids (§3: hash id 01 SHA-256, 02 SHA-384, 03 SHA-512). */
function hashOf(ids: string): { name: string; length: number } {
  const [asym, sym, hash] = ids.split(' ');
  if (asym !== '01' || sym !== '04') throw new Error(`not a ChaCha20-Poly1305 suite: ${ids}`);
  const known: Record<string, { name: string; length: number }> = {
    '01': { name: 'sha256', length: 32 },
    '02': { name: 'sha384', length: 48 },
    '03': { name: 'sha512', length: 64 },
  };
  return known[hash!]!;
}

interface Keys {
  readonly key: Buffer;
  readonly iv: Buffer;
}

/** §4: cipher_key = HKDF(T, "", "secsess v1 key", 32), iv = HKDF(T, "", "secsess v1 iv", 12). */
function keysOf(hash: string, secret: Buffer): Keys {
  const hk = (label: string, length: number) =>
    Buffer.from(hkdfSync(hash, secret, Buffer.alloc(0), Buffer.from(label), length));
  return { key: hk('secsess v1 key', 32), iv: hk('secsess v1 iv', 12) };
}

/** §5, §D4: nonce = iv XOR (0^4 ‖ u64 seq). */
function nonceOf(iv: Buffer, seq: number): Buffer {
  const nonce = Buffer.from(iv);
  const s = Buffer.alloc(8);
  s.writeBigUInt64BE(BigInt(seq));
  for (let i = 0; i < 8; i++) nonce[4 + i]! ^= s[i]!;
  return nonce;
}

type Cipher = 'chacha20-poly1305' | 'aes-256-gcm';
// node's typings give chacha20-poly1305 a CCM-like setAAD; at run time the name is all that differs.
const CHACHA = 'chacha20-poly1305' as 'aes-256-gcm';

/** Opens `ct ‖ tag` (16) with `cipher`; null if the tag fails. */
function open(cipher: Cipher, k: Keys, seq: number, aad: Buffer, sealed: Buffer): Buffer | null {
  const d = createDecipheriv(cipher as 'aes-256-gcm', k.key, nonceOf(k.iv, seq), { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const plain = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    d.final();
  } catch {
    return null;
  }
  return plain;
}

function seal(k: Keys, seq: number, aad: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv(CHACHA, k.key, nonceOf(k.iv, seq), { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/**
 * Opens a datagram Record packet (§D4: header(19) ‖ ct ‖ tag, aad = header), checks its
 * header, that it is not an AES-256-GCM record nor one of another seq, and that sealing the
 * plaintext again gives the packet; returns type and payload.
 */
function openPacket(
  t: ExecutionContext,
  what: string,
  k: Keys,
  connId: Buffer,
  epoch: number,
  seq: number,
  packet: Buffer,
) {
  const header = Buffer.alloc(19);
  header[0] = 0x47;
  connId.copy(header, 1);
  header.writeUInt32BE(epoch, 9);
  header.writeUIntBE(seq, 13, 6);
  t.is(packet.subarray(0, 19).toString('hex'), header.toString('hex'), `${what}: header`);
  const inner = open('chacha20-poly1305', k, seq, header, packet.subarray(19));
  if (!inner) throw new Error(`${what}: the tag does not verify`);
  t.is(open('aes-256-gcm', k, seq, header, packet.subarray(19)), null, `${what}: not a GCM record`);
  t.is(open('chacha20-poly1305', k, seq + 1, header, packet.subarray(19)), null, `${what}: bound to its seq`);
  t.is(
    Buffer.concat([header, seal(k, seq, header, inner)]).toString('hex'),
    packet.toString('hex'),
    `${what}: sealed again`,
  );
  return { type: inner[0]!, payload: inner.subarray(1) };
}

test("node:crypto's chacha20-poly1305 is RFC 8439's AEAD (§2.8.2's example)", (t) => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i));
  const c = createCipheriv(CHACHA, key, b('070000004041424344454647'), { authTagLength: 16 });
  c.setAAD(b('50515253c0c1c2c3c4c5c6c7'));
  const text =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
  const ct = Buffer.concat([c.update(Buffer.from(text)), c.final()]);
  t.is(
    ct.toString('hex'),
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
      '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3f' +
      'f4def08e4b7a9de576d26586cec64b6116',
  );
  t.is(c.getAuthTag().toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('PROTOCOL.md prints a ChaCha20-Poly1305 block for each hash in §11, §D11 and §D12', (t) => {
  t.is(chacha('suite ').length, 3);
  t.is(chacha('datagram records, suite ').length, 3);
  t.is(chacha('dgram: suite ').length, 3);
});

test('§11: the stream records of every ChaCha20-Poly1305 block open with node:crypto alone', (t) => {
  for (const [title, f] of chacha('suite ')) {
    const hash = hashOf(f.suite_ids!);
    const dirs = { c2s: keysOf(hash.name, b(f.c2s_traffic_0!)), s2c: keysOf(hash.name, b(f.s2c_traffic_0!)) };
    for (const dir of ['c2s', 's2c'] as const) {
      t.is(f[`${dir}_cipher_key_0`], dirs[dir].key.toString('hex'), `${title}: ${dir} cipher_key`);
      t.is(f[`${dir}_iv_0`], dirs[dir].iv.toString('hex'), `${title}: ${dir} iv`);
      t.false(`${dir}_mac_key_0` in f, `${title}: an AEAD suite has no mac_key`);
    }
    const records: [string, 'c2s' | 's2c', number, number, Buffer][] = [
      ['server_finished_record', 's2c', 0, 0x10, b(f.server_proof!)],
      ['client_finished_record', 'c2s', 0, 0x11, b('00')],
      ['c2s_data_record', 'c2s', 1, 0x01, Buffer.from('hello, secsess')],
      ['c2s_end_record', 'c2s', 2, 0x09, Buffer.alloc(0)],
    ];
    for (const [name, dir, seq, type, payload] of records) {
      const what = `${title}: ${name}`;
      const frame = b(f[name]!);
      // frame = 0x17 ‖ u24 body_length ‖ ct ‖ tag; aad = u64 seq ‖ the 4-byte frame header.
      t.is(frame[0], 0x17, what);
      t.is(frame.readUIntBE(1, 3), frame.length - 4, `${what}: length`);
      t.is(frame.length, 4 + 13 + payload.length + 16, `${what}: §1's sealed size`);
      const seqBytes = Buffer.alloc(8);
      seqBytes.writeBigUInt64BE(BigInt(seq));
      const aad = Buffer.concat([seqBytes, frame.subarray(0, 4)]);
      const k = dirs[dir];
      const plain = open('chacha20-poly1305', k, seq, aad, frame.subarray(4));
      if (!plain) throw new Error(`${what}: the tag does not verify`);
      t.is(plain.readBigUInt64BE(0), BigInt(seq), `${what}: inner seq`);
      t.is(plain[8], type, `${what}: type`);
      t.is(plain.readUInt32BE(9), payload.length, `${what}: payload_length`);
      t.is(plain.subarray(13).toString('hex'), payload.toString('hex'), `${what}: payload`);
      t.is(open('aes-256-gcm', k, seq, aad, frame.subarray(4)), null, `${what}: not a GCM record`);
      t.is(open('chacha20-poly1305', k, seq + 1, aad, frame.subarray(4)), null, `${what}: bound to its seq`);
      t.is(
        Buffer.concat([frame.subarray(0, 4), seal(k, seq, aad, plain)]).toString('hex'),
        f[name]!,
        `${what}: sealed again`,
      );
    }
  }
});

test('§D11: the datagram records of every ChaCha20-Poly1305 block open with node:crypto alone', (t) => {
  for (const [title, f] of chacha('datagram records, suite ')) {
    const hash = hashOf(f.suite!);
    const connId = b(f.conn_id!);
    // T_(e+1) = HKDF(T_e, "", "secsess v1 dgram epoch", Hlen) (§D4).
    const next = (T: Buffer) =>
      Buffer.from(
        hkdfSync(hash.name, T, Buffer.alloc(0), Buffer.from('secsess v1 dgram epoch'), hash.length),
      );
    const T = [b(f.T_0!)];
    T.push(next(T[0]!), next(next(T[0]!)));
    const keys = T.map((secret, e) => {
      t.is(f[`T_${e}`], secret.toString('hex'), `${title}: T_${e}`);
      const k = keysOf(hash.name, secret);
      t.is(f[`cipher_key_${e}`], k.key.toString('hex'), `${title}: cipher_key_${e}`);
      t.is(f[`iv_${e}`], k.iv.toString('hex'), `${title}: iv_${e}`);
      return k;
    });
    const far = 0x010203040506;
    const records: [string, number, number, number, string][] = [
      ['record_e0_s0', 0, 0, 0x01, 'hello, datagrams'],
      ['record_e0_s1', 0, 1, 0x05, 'ping'],
      ['record_e1_s0', 1, 0, 0x01, 'after the move'],
      [`record_e2_s${far}`, 2, far, 0x01, 'epoch 2, seq 0x010203040506'],
    ];
    for (const [name, epoch, seq, type, payload] of records) {
      const packet = b(f[name]!);
      t.is(packet.length, 19 + 1 + payload.length + 16, `${title}: ${name}: §D4's size`);
      const r = openPacket(t, `${title}: ${name}`, keys[epoch]!, connId, epoch, seq, packet);
      t.is(r.type, type, `${title}: ${name}: type`);
      t.is(r.payload.toString(), payload, `${title}: ${name}: payload`);
    }
  }
});

test('§D12: the ServerFinished, ClientFinished and HandshakeDone records of every ChaCha20-Poly1305 block open with node:crypto alone', (t) => {
  for (const [title, f] of chacha('dgram: suite ')) {
    const hash = hashOf(f.suite_ids!);
    const connId = b(f.conn_id!);
    const s2c = keysOf(hash.name, b(f.s2c_0!));
    const c2s = keysOf(hash.name, b(f.c2s_0!));
    // ServerHello packet (§D1) = 0x44 ‖ token (16) ‖ conn_id (8) ‖ ServerHello frame (4 + 72) ‖ ServerFinished record.
    const shp = b(f.server_hello_packet!);
    t.is(shp[0], 0x44);
    t.is(shp.subarray(17, 25).toString('hex'), f.conn_id!, `${title}: conn_id in the ServerHello packet`);
    t.is(shp.subarray(25, 29).toString('hex'), '04000048', `${title}: ServerHello frame header`);
    t.is(
      shp.subarray(34, 37).toString('hex'),
      f.suite_ids!.replace(/ /g, ''),
      `${title}: the suite in the ServerHello`,
    );
    const sf = openPacket(t, `${title}: ServerFinished`, s2c, connId, 0, 0, shp.subarray(101));
    t.is(sf.type, 0x10);
    t.is(sf.payload.toString('hex'), f.server_proof!, `${title}: ServerFinished carries server_proof`);
    const cf = openPacket(t, `${title}: ClientFinished`, c2s, connId, 0, 0, b(f.client_finished_record!));
    t.is(cf.type, 0x11);
    t.is(cf.payload.toString('hex'), '00', `${title}: ClientFinished without client auth`);
    const done = openPacket(t, `${title}: HandshakeDone`, s2c, connId, 0, 1, b(f.handshake_done_record!));
    t.is(done.type, 0x12);
    t.is(done.payload.length, 0);
  }
});
