/**
 * What the vector tests of §11's blocks share (protocol-vectors-resumption, -channels): raw
 * node:crypto for the default suite's records (AES-256-CBC + HMAC-SHA-256, §4–§5) — no code
 * from src/ — and `Checked`, which fails a test that leaves a printed field unchecked.
 */
import type { ExecutionContext } from 'ava';
import { createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import type { Block } from './vectors.js';

export const HLEN = 32;
export const b = (h: string): Buffer => Buffer.from(h, 'hex');
export const hk = (ikm: Buffer, info: string | Buffer, length: number, salt = Buffer.alloc(0)): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, typeof info === 'string' ? Buffer.from(info) : info, length));
export const hmac = (key: Buffer, ...parts: Buffer[]): Buffer =>
  createHmac('sha256', key).update(Buffer.concat(parts)).digest();
export const u64 = (n: number): Buffer => {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(n));
  return out;
};

/** AES-256-CBC + HMAC-SHA-256 keys of a traffic secret (§4). */
export const keysOf = (secret: Buffer) => ({
  key: hk(secret, 'secsess v1 key', 32),
  mac: hk(secret, 'secsess v1 mac', HLEN),
});

/** Opens a default-suite record with §5's receiver rules; throws on any failure. */
export function openRecord(k: { key: Buffer; mac: Buffer }, seq: number, record: Buffer) {
  if (record[0] !== 0x17 || record.readUIntBE(1, 3) !== record.length - 4) throw new Error('frame');
  const end = record.length - HLEN;
  const tag = hmac(k.mac, u64(seq), record.subarray(0, end));
  if (!tag.equals(record.subarray(end))) throw new Error('tag');
  const d = createDecipheriv('aes-256-cbc', k.key, record.subarray(4, 20));
  const plain = Buffer.concat([d.update(record.subarray(20, end)), d.final()]);
  if (plain.readBigUInt64BE(0) !== BigInt(seq)) throw new Error('inner seq');
  if (plain.readUInt32BE(9) !== plain.length - 13) throw new Error('inner length');
  return { type: plain[8]!, payload: plain.subarray(13) };
}

/** The block's fields, each marked when used; a field nobody checks fails the test. */
export class Checked {
  readonly #seen = new Set<string>();
  constructor(
    readonly t: ExecutionContext,
    readonly block: Block,
  ) {}

  get(name: string): Buffer {
    const v = this.block[name];
    if (v === undefined) throw new Error(`no field ${name}`);
    this.#seen.add(name);
    return b(v);
  }

  is(name: string, value: Buffer | string): void {
    this.#seen.add(name);
    this.t.is(this.block[name], typeof value === 'string' ? value : value.toString('hex'), name);
  }

  record(k: { key: Buffer; mac: Buffer }, seq: number, name: string, type: number, payload: Buffer): void {
    const opened = openRecord(k, seq, this.get(name));
    this.t.is(opened.type, type, `${name} type`);
    this.t.is(opened.payload.toString('hex'), payload.toString('hex'), `${name} payload`);
  }

  done(): void {
    this.t.deepEqual(
      Object.keys(this.block).filter((k) => !this.#seen.has(k)),
      [],
      'fields not checked',
    );
  }
}
