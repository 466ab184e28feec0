/**
 * What the AEAD backend tests share (aead-backends.test.ts: libsodium beside node:crypto;
 * aead-openssl.test.ts: @secsess/native beside node:crypto): laying a record out and sealing
 * it, a seeded generator for sizes and offsets, one backend opening another's record in
 * place and into another buffer, every one-bit change of a record, and PROTOCOL.md's vector
 * files.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type { AeadKey } from '../../src/protocol/aead.js';

export const TAG = 16;

/** `plain` sealed by `key` at `at` in a buffer with 5 bytes of 0x5a after the tag. */
export function seal(key: AeadKey, nonce: Buffer, aad: Buffer, plain: Buffer, at: number): Buffer {
  const buf = Buffer.alloc(at + plain.length + TAG + 5, 0x5a);
  plain.copy(buf, at);
  key.sealInPlace(nonce, aad, buf, at, at + plain.length);
  return buf;
}

/** A small seeded generator (mulberry32) for sizes and offsets: `next(n)` in [0, n). */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

/**
 * `opener` opens `record` (plaintext `plain` at `at`) in place, and into another buffer at
 * `outAt`; what went wrong is pushed to `problems`, prefixed with `what`: a refusal, a wrong
 * plaintext, a byte written outside the output range, the record changed when opened apart.
 */
export function checkOpens(
  problems: string[],
  what: string,
  opener: AeadKey,
  record: Buffer,
  args: { nonce: Buffer; aad: Buffer; plain: Buffer; at: number; outAt: number },
): void {
  const { nonce, aad, plain, at, outAt } = args;
  const size = plain.length;
  const inPlace = Buffer.from(record);
  if (!opener.openInto(nonce, aad, inPlace, at, at + size, inPlace, at)) problems.push(`${what} in place`);
  else if (!inPlace.subarray(at, at + size).equals(plain)) problems.push(`${what} in place, wrong plaintext`);
  const out = Buffer.alloc(outAt + size + 3, 0xee);
  const copy = Buffer.from(record);
  if (!opener.openInto(nonce, aad, copy, at, at + size, out, outAt)) problems.push(`${what} into out`);
  else if (!out.subarray(outAt, outAt + size).equals(plain)) problems.push(`${what}, wrong plaintext`);
  if (out.subarray(0, outAt).some((b) => b !== 0xee) || out.subarray(outAt + size).some((b) => b !== 0xee))
    problems.push(`${what} wrote outside its range`);
  if (!copy.equals(record)) problems.push(`${what} changed the record it opened into another buffer`);
}

/**
 * Calls `refuse` with every one-bit change of the record (`record[at .. at + size + 16]`:
 * ciphertext and tag), of the aad and of the nonce, each described by its `${size} bytes: …`
 * and given the (possibly changed) record, nonce and aad.
 */
export function forEachFlip(
  args: { record: Buffer; at: number; size: number; nonce: Buffer; aad: Buffer },
  refuse: (what: string, record: Buffer, nonce: Buffer, aad: Buffer) => void,
): void {
  const { record, at, size, nonce, aad } = args;
  for (let bit = 0; bit < (size + TAG) * 8; bit++) {
    const bad = Buffer.from(record);
    bad[at + (bit >> 3)]! ^= 1 << (bit & 7);
    refuse(`${size} bytes: record bit ${bit}`, bad, nonce, aad);
  }
  for (let bit = 0; bit < aad.length * 8; bit++) {
    const bad = Buffer.from(aad);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    refuse(`${size} bytes: aad bit ${bit}`, record, nonce, bad);
  }
  for (let bit = 0; bit < 96; bit++) {
    const bad = Buffer.from(nonce);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    refuse(`${size} bytes: nonce bit ${bit}`, record, bad, aad);
  }
}

/** PROTOCOL.md's vectors as the fixtures hold them: block title → name → hex. */
export type Vectors = Record<string, Record<string, string>>;

export const vectorFixture = (name: string): Vectors =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Vectors;

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');

/** nonce = iv XOR (0^4 ‖ u64 seq) */
export function nonceOf(iv: Buffer, seq: bigint): Buffer {
  const n = Buffer.from(iv);
  const u64 = Buffer.alloc(8);
  u64.writeBigUInt64BE(seq);
  for (let i = 0; i < 8; i++) n[4 + i]! ^= u64[i]!;
  return n;
}
