/**
 * What a key log reader does (PROTOCOL.md "Key log format"), with node:crypto alone and
 * nothing of the sdk: split captured bytes into frames and packets, find the client_random,
 * derive record keys from a logged secret (§4) and open stream records (§5) and datagram
 * records (§D4). sdk/test/keylog.test.ts checks the logged secrets with it.
 */
import { createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export interface ReaderSuite {
  readonly hash: string;
  readonly hashLength: number;
  readonly cipher: string;
  readonly keyLength: number;
}

export interface Opened {
  readonly type: number;
  readonly payload: Buffer;
}

const HASHES: Record<number, [string, number]> = { 1: ['sha256', 32], 2: ['sha384', 48], 3: ['sha512', 64] };
const CIPHERS: Record<number, [string, number]> = {
  1: ['aes-128-cbc', 16],
  2: ['aes-256-cbc', 32],
  3: ['aes-256-gcm', 32],
  4: ['chacha20-poly1305', 32],
};

/** The frames of one direction of a stream: type and whole frame (§1). */
export function frames(chunks: Buffer[]): { type: number; frame: Buffer }[] {
  const bytes = Buffer.concat(chunks);
  const out: { type: number; frame: Buffer }[] = [];
  for (let at = 0; at + 4 <= bytes.length;) {
    const length = bytes.readUIntBE(at + 1, 3);
    out.push({ type: bytes[at]!, frame: bytes.subarray(at, at + 4 + length) });
    at += 4 + length;
  }
  return out;
}

/** The suite of a ClientHello or ResumeHello frame (preamble 5, then asymmetric, symmetric, hash). */
export function helloSuite(hello: Buffer): ReaderSuite {
  const [hash, hashLength] = HASHES[hello[4 + 5 + 2]!]!;
  const [cipher, keyLength] = CIPHERS[hello[4 + 5 + 1]!]!;
  return { hash, hashLength, cipher, keyLength };
}

/** A ClientHello's or ResumeHello's client_random (hex): after preamble (5), suite (3), flags (1). */
export const clientRandom = (hello: Buffer): string => hello.subarray(13, 13 + 32).toString('hex');

/** The ClientHello frame inside a datagram Hello packet (§D1): after type, token and cookie. */
export const helloOfPacket = (packet: Buffer): Buffer => packet.subarray(18 + packet[17]!);

/** The ServerFinished Record packet inside a datagram ServerHello packet (§D1). */
export const recordOfServerHello = (packet: Buffer): Buffer => packet.subarray(1 + 16 + 8 + 4 + 72);

export function expand(suite: ReaderSuite, secret: Buffer, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync(suite.hash, secret, Buffer.alloc(0), Buffer.from(label, 'ascii'), length));
}

/**
 * Decrypts `body` under traffic secret `secret`: CBC (IV ‖ ct ‖ tag, the tag checked over
 * `macPrefix` ‖ IV ‖ ct) or AEAD (ct ‖ tag, nonce = iv XOR `nonceTail` right-aligned, aad).
 */
function decrypt(
  suite: ReaderSuite,
  secret: Buffer,
  macPrefix: Buffer,
  nonceTail: Buffer,
  body: Buffer,
): Buffer {
  const key = expand(suite, secret, 'secsess v1 key', suite.keyLength);
  if (suite.cipher === 'aes-256-gcm' || suite.cipher === 'chacha20-poly1305') {
    const nonce = expand(suite, secret, 'secsess v1 iv', 12);
    for (let i = 0; i < nonceTail.length; i++) nonce[12 - nonceTail.length + i]! ^= nonceTail[i]!;
    const decipher = createDecipheriv(suite.cipher as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
    decipher.setAAD(macPrefix);
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]);
  }
  const mac = expand(suite, secret, 'secsess v1 mac', suite.hashLength);
  const ivAndCiphertext = body.subarray(0, body.length - suite.hashLength);
  const tag = createHmac(suite.hash, mac).update(macPrefix).update(ivAndCiphertext).digest();
  if (!timingSafeEqual(tag, body.subarray(body.length - suite.hashLength))) throw new Error('tag mismatch');
  const decipher = createDecipheriv(suite.cipher, key, ivAndCiphertext.subarray(0, 16));
  return Buffer.concat([decipher.update(ivAndCiphertext.subarray(16)), decipher.final()]);
}

/** Opens one stream Record frame at `seq` (§5): the MAC/AAD prefix is u64 seq ‖ frame header. */
export function openRecord(suite: ReaderSuite, secret: Buffer, seq: number, frame: Buffer): Opened {
  const prefix = Buffer.alloc(12);
  prefix.writeBigUInt64BE(BigInt(seq));
  frame.copy(prefix, 8, 0, 4);
  const plain = decrypt(suite, secret, prefix, prefix.subarray(0, 8), frame.subarray(4));
  if (plain.readBigUInt64BE(0) !== BigInt(seq)) throw new Error('inner seq');
  return { type: plain[8]!, payload: plain.subarray(13, 13 + plain.readUInt32BE(9)) };
}

/** Every record of one stream direction, from its logged `_0` secret, following KeyUpdate (`next T`). */
export function openStream(suite: ReaderSuite, secretHex: string, direction: Buffer[]): Opened[] {
  let secret: Buffer = Buffer.from(secretHex, 'hex');
  const records = frames(direction).filter((f) => f.type === 0x17);
  return records.map(({ frame }, seq) => {
    const record = openRecord(suite, secret, seq, frame);
    if (record.type === 0x07) secret = expand(suite, secret, 'secsess v1 update', suite.hashLength);
    return record;
  });
}

/**
 * Opens one datagram Record packet (§D4) from its direction's logged `_0` secret: the
 * epoch's secret along the chain `T_(e+1) = HKDF(T_e, "secsess v1 dgram epoch")`, the
 * 19-byte header as MAC input / AAD, the u48 seq in the GCM nonce.
 */
export function openDatagram(suite: ReaderSuite, secretHex: string, packet: Buffer): Opened {
  let secret: Buffer = Buffer.from(secretHex, 'hex');
  for (let e = packet.readUInt32BE(9); e > 0; e--) {
    secret = expand(suite, secret, 'secsess v1 dgram epoch', suite.hashLength);
  }
  const header = packet.subarray(0, 19);
  const inner = decrypt(suite, secret, header, header.subarray(13, 19), packet.subarray(19));
  return { type: inner[0]!, payload: inner.subarray(1) };
}
