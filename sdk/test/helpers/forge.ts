/**
 * Records a conforming sender never makes, for receiver-rule tests: sealed with a live
 * connection's own sending state (so the sequence stays in step), or built by hand from its
 * traffic secret with any inner header or padding.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import type { ClientConnection, ServerConnection } from '../../src/protocol/index.js';
import { trafficKeys } from '../../src/protocol/key-schedule.js';
import type { RecordSealer } from '../../src/protocol/record-layer.js';
import type { Suite } from '../../src/protocol/suite.js';

export type Conn = ClientConnection | ServerConnection;

/** The connection's sending state (a protected field, reached for tests only). */
export function sealerOf(conn: Conn): RecordSealer {
  return (conn as unknown as { sealer: RecordSealer }).sealer;
}

/** A record of any type and payload, sealed as the connection's next record. */
export function seal(conn: Conn, type: number, payload: Buffer | number[] = []): Buffer {
  return sealerOf(conn).seal(type, Buffer.from(payload));
}

export interface CbcForgery {
  readonly type: number;
  readonly payload: Buffer;
  /** The inner payload_length; default the payload's length. */
  readonly declaredLength?: number;
  /** The inner seq; default the sealer's next. */
  readonly innerSeq?: number;
  /** The padding bytes; default PKCS#7. Their count must make the plaintext a block multiple. */
  readonly padding?: Buffer;
  /** The whole padded plaintext, in place of inner header ‖ payload ‖ padding. */
  readonly plain?: Buffer;
}

/**
 * A CBC record built from the sender's traffic secret, with a valid tag over whatever inner
 * plaintext is asked for. Advances the sealer's seq as a sealed record would.
 */
export function forgeCbc(conn: Conn, suite: Suite, f: CbcForgery): Buffer {
  const sealer = sealerOf(conn);
  const secret = Buffer.from((sealer as unknown as { secret: Buffer }).secret);
  const keys = trafficKeys(suite, secret);
  const seq = sealer.seq;
  const inner = Buffer.alloc(13);
  inner.writeBigUInt64BE(BigInt(f.innerSeq ?? seq));
  inner[8] = f.type;
  inner.writeUInt32BE(f.declaredLength ?? f.payload.length, 9);
  const unpadded = 13 + f.payload.length;
  const padCount = 16 - (unpadded % 16);
  const padding = f.padding ?? Buffer.alloc(padCount, padCount);
  const iv = Buffer.alloc(16, 0x5a);
  const cipher = createCipheriv(suite.cipher, keys.cipherRaw, iv).setAutoPadding(false);
  const ct = Buffer.concat([
    cipher.update(f.plain ?? Buffer.concat([inner, f.payload, padding])),
    cipher.final(),
  ]);
  const header = Buffer.alloc(4);
  header[0] = 0x17;
  header.writeUIntBE(16 + ct.length + suite.tagLength, 1, 3);
  const seqBytes = Buffer.alloc(8);
  seqBytes.writeBigUInt64BE(BigInt(seq));
  const tag = createHmac(suite.hashName, keys.macKey)
    .update(seqBytes)
    .update(header)
    .update(iv)
    .update(ct)
    .digest();
  sealer.seq += 1;
  return Buffer.concat([header, iv, ct, tag]);
}

/** The payload of a CBC record that `conn` sealed (decrypted with its own sending key). */
export function payloadOf(conn: Conn, suite: Suite, record: Buffer): Buffer {
  return innerOf(conn, suite, record).payload;
}

/** A copy of the connection's current sending traffic secret. */
export function sendingSecret(conn: Conn): Buffer {
  return Buffer.from((sealerOf(conn) as unknown as { secret: Buffer }).secret);
}

/**
 * The record type and payload of a CBC record that `conn` sealed under its current key (or
 * under `secret`, a {@link sendingSecret} kept from before the connection wiped its keys).
 */
export function innerOf(
  conn: Conn,
  suite: Suite,
  record: Buffer,
  secret: Buffer = sendingSecret(conn),
): { type: number; payload: Buffer } {
  const keys = trafficKeys(suite, secret);
  const decipher = createDecipheriv(suite.cipher, keys.cipherRaw, record.subarray(4, 20));
  const plain = Buffer.concat([
    decipher.update(record.subarray(20, record.length - suite.tagLength)),
    decipher.final(),
  ]);
  return { type: plain[8]!, payload: plain.subarray(13, 13 + plain.readUInt32BE(9)) };
}
