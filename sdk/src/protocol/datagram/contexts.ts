/**
 * The record layer of a datagram session (PROTOCOL.md §D4–§D6): a `DatagramOutbound` seals
 * (outbound.ts), a `DatagramInbound` opens (inbound.ts), `datagramContexts` makes both from
 * a shared secret (§D9 "Keys from elsewhere"). This module is the one to import from.
 */
import { Buffer } from 'node:buffer';
import { DEFAULT_SET, resolveSuite } from '../suite.js';
import { DatagramRecordType } from './constants.js';
import type { DatagramContextOptions } from './context-options.js';
import { DatagramInbound } from './inbound.js';
import { datagramTrafficSecrets } from './key-schedule.js';
import { DatagramOutbound } from './outbound.js';

export type { DatagramContextOptions } from './context-options.js';
export { DatagramInbound, DatagramRecordError } from './inbound.js';
export type { InboundCounters, OpenResult, Rejection } from './inbound.js';
export { DatagramOutbound } from './outbound.js';

/**
 * The record types of PROTOCOL.md §D4 (the first byte of a record's plaintext), for `seal`
 * and for reading `open`'s `type`.
 */
export const DatagramRecordTypes = Object.freeze({
  Data: DatagramRecordType.Data,
  Close: DatagramRecordType.Close,
  Ping: DatagramRecordType.Ping,
  Pong: DatagramRecordType.Pong,
  Alert: DatagramRecordType.Alert,
  ServerFinished: DatagramRecordType.ServerFinished,
  ClientFinished: DatagramRecordType.ClientFinished,
  HandshakeDone: DatagramRecordType.HandshakeDone,
} as const);

/**
 * Both halves for one side of a datagram session keyed by a shared secret from elsewhere
 * (PROTOCOL.md §D9 "Keys from elsewhere"): `c2s_0 = HKDF(secret, "", "secsess v1 dgram c2s",
 * Hlen)`, `s2c_0` likewise. The client seals with c2s and opens s2c; the server the reverse.
 *
 * @param secret at least 32 bytes of secret key material (not wiped here).
 */
export function datagramContexts(
  secret: Buffer,
  role: 'client' | 'server',
  options?: DatagramContextOptions,
): { outbound: DatagramOutbound; inbound: DatagramInbound } {
  if (!Buffer.isBuffer(secret)) throw new TypeError('secret must be a Buffer');
  if (secret.length < 32) throw new RangeError(`secret must be at least 32 bytes, got ${secret.length}`);
  if (role !== 'client' && role !== 'server') throw new TypeError(`role must be 'client' or 'server'`);
  const suite = resolveSuite(options?.set ?? DEFAULT_SET);
  const { c2s, s2c } = datagramTrafficSecrets(suite, secret);
  try {
    return role === 'client'
      ? { outbound: new DatagramOutbound(c2s, options), inbound: new DatagramInbound(s2c, options) }
      : { outbound: new DatagramOutbound(s2c, options), inbound: new DatagramInbound(c2s, options) };
  } finally {
    c2s.fill(0);
    s2c.fill(0);
  }
}
