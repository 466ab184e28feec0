/**
 * Resumption tickets (PROTOCOL.md §6a): the reference format that a server (or a fleet of
 * servers sharing ticket keys) seals and opens. Tickets are opaque to clients; the format
 * is specified so that independent servers can share it.
 *
 *   key_name = HKDF-SHA256(K, "", "secsess v1 ticket name", 8)
 *   enc_key  = HKDF-SHA256(K, "", "secsess v1 ticket key", 32)
 *   ticket   = key_name ‖ nonce (12) ‖ AES-256-GCM(enc_key, nonce, aad = key_name, state) ‖ tag (16)
 *   state    = u8 2 ‖ suite (3) ‖ u64 issued ‖ u32 lifetime ‖ u64 auth_time ‖ key_id (32)
 *              ‖ u8 Hlen ‖ psk ‖ u16 m ‖ client spki (m) ‖ ticket_id (16)
 *
 * Pure: randomness (nonce) is the caller's, the clock is the caller's. `openTicket` answers
 * null for every failure alike; the caller never says which check failed.
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import type { PublicKey } from '@secsess/keys';
import { gcmOpen, gcmSealInto } from './ciphers.js';
import {
  KEY_ID_SIZE,
  LABEL_TICKET_KEY,
  LABEL_TICKET_NAME,
  MAX_TICKET_LIFETIME,
  TICKET_ID_SIZE,
  TICKET_KEY_NAME_SIZE,
  TICKET_KEY_SIZE,
  TICKET_NONCE_SIZE,
  TICKET_STATE_VERSION,
  TICKET_TAG_SIZE,
} from './constants.js';
import { constantTimeEqual, hkdf, secretKey } from './crypto.js';
import type { RandomSource } from './crypto.js';
import type { Suite } from './suite.js';

const EMPTY = Buffer.alloc(0);

/** A ticket key, prepared: its public 8-byte name and its AES-256-GCM key. */
export class TicketKey {
  /** key_name: the first 8 bytes of every ticket sealed under this key. */
  readonly name: Buffer;
  /** @internal */
  readonly encKey: KeyObject;

  private constructor(name: Buffer, encKey: KeyObject) {
    this.name = name;
    this.encKey = encKey;
  }

  /**
   * Prepares a ticket key from its 32 secret bytes (which stay the caller's to wipe).
   * @throws TypeError unless `raw` is a Uint8Array of exactly 32 bytes.
   */
  static from(raw: Uint8Array): TicketKey {
    if (!(raw instanceof Uint8Array) || raw.length !== TICKET_KEY_SIZE) {
      throw new TypeError(`a ticket key must be ${TICKET_KEY_SIZE} bytes (a Uint8Array)`);
    }
    const k = Buffer.from(raw);
    const name = hkdf('sha256', k, EMPTY, Buffer.from(LABEL_TICKET_NAME, 'ascii'), TICKET_KEY_NAME_SIZE);
    const enc = hkdf('sha256', k, EMPTY, Buffer.from(LABEL_TICKET_KEY, 'ascii'), 32);
    k.fill(0);
    const encKey = secretKey(enc);
    enc.fill(0);
    return new TicketKey(name, encKey);
  }
}

/**
 * What a server connection needs to issue and accept tickets, supplied from outside the
 * core (the SDK's `Server` fills it from its `tickets` option): the keys, the lifetime, a
 * clock and, for single-use tickets, the memory of tickets already used.
 */
export interface TicketContext {
  /** The ticket keys: the first seals new tickets, every one opens. Read at each use. */
  readonly keys: readonly TicketKey[];
  /** Lifetime of the tickets issued, in seconds (1–604800). */
  readonly lifetime: number;
  /**
   * The longest a chain of resumptions lasts, in seconds since its full handshake (the
   * ticket's `auth_time`): older tickets are refused, and a resumed session's ticket expires
   * by then. Default 86400 (1 day).
   */
  readonly maxAge?: number;
  /** Now, in whole seconds since the Unix epoch. */
  now(): number;
  /**
   * Single-use tickets: called once a ticket passed every other check; returns true and
   * remembers `ticketId` until `expires` (Unix seconds) if it was never seen, false if it
   * was (or if the memory is full: a ticket is refused rather than risk accepting it
   * twice). Absent: a ticket may be used until it expires.
   */
  claim?(ticketId: Buffer, expires: number): boolean;
}

/** The state a ticket carries (PROTOCOL.md §6a "Ticket"). */
export interface TicketState {
  readonly suiteIds: readonly [number, number, number];
  /** Unix seconds. */
  readonly issued: number;
  /** Seconds. */
  readonly lifetime: number;
  /** Unix seconds: when the full handshake the chain of resumptions started from ran. */
  readonly authTime: number;
  /** The fingerprint bytes of the server key the ticket's session used. */
  readonly keyId: Buffer;
  readonly psk: Buffer;
  /** The client's SubjectPublicKeyInfo DER; empty when the client did not authenticate. */
  readonly clientSpki: Buffer;
  readonly ticketId: Buffer;
}

/** A ticket as a client holds it: what `ClientConnectionHandler.newTicket` receives. */
export interface SessionTicket {
  /** The opaque ticket, as the server sent it. */
  readonly ticket: Buffer;
  /** The resumption secret (Hlen bytes). Secret: the core wipes it once a resumption used it. */
  readonly psk: Buffer;
  /** Seconds the server said the ticket is valid, from when it arrived. */
  readonly lifetime: number;
  /** The suite of the session that got it: a resumption uses the same suite. */
  readonly suite: Suite;
  /** The server key of that session: a resumption names it. */
  readonly serverKey: PublicKey;
  /** The client key of that session (the identity a resumed session keeps); null if none. */
  readonly clientKey: PublicKey | null;
}

const STATE_FIXED = 1 + 3 + 8 + 4 + 8 + KEY_ID_SIZE + 1 + 2 + TICKET_ID_SIZE;
const TICKET_OVERHEAD = TICKET_KEY_NAME_SIZE + TICKET_NONCE_SIZE + TICKET_TAG_SIZE;

/** state = u8 2 ‖ suite ‖ u64 issued ‖ u32 lifetime ‖ u64 auth_time ‖ key_id ‖ u8 Hlen ‖ psk ‖ u16 m ‖ spki ‖ ticket_id. */
export function encodeTicketState(s: TicketState): Buffer {
  const out = Buffer.alloc(STATE_FIXED + s.psk.length + s.clientSpki.length);
  let at = out.writeUInt8(TICKET_STATE_VERSION, 0);
  for (const id of s.suiteIds) at = out.writeUInt8(id, at);
  at = out.writeBigUInt64BE(BigInt(s.issued), at);
  at = out.writeUInt32BE(s.lifetime, at);
  at = out.writeBigUInt64BE(BigInt(s.authTime), at);
  at += s.keyId.copy(out, at);
  at = out.writeUInt8(s.psk.length, at);
  at += s.psk.copy(out, at);
  at = out.writeUInt16BE(s.clientSpki.length, at);
  at += s.clientSpki.copy(out, at);
  s.ticketId.copy(out, at);
  return out;
}

/** The strict reading of a state; null if anything is off (never says what). */
export function decodeTicketState(b: Buffer): TicketState | null {
  if (b.length < STATE_FIXED || b[0] !== TICKET_STATE_VERSION) return null;
  const suiteIds = [b[1]!, b[2]!, b[3]!] as const;
  const issued = b.readBigUInt64BE(4);
  const lifetime = b.readUInt32BE(12);
  const authTime = b.readBigUInt64BE(16);
  if (issued > BigInt(Number.MAX_SAFE_INTEGER) || lifetime < 1 || lifetime > MAX_TICKET_LIFETIME) return null;
  // A chain starts at a full handshake: never after the ticket was issued.
  if (authTime > issued) return null;
  let at = 24;
  const keyId = Buffer.from(b.subarray(at, (at += KEY_ID_SIZE)));
  const hlen = b[at++]!;
  if (hlen !== 32 && hlen !== 48 && hlen !== 64) return null;
  // Bounds before reading m: the fixed part and the psk are there; then the exact length.
  if (b.length < STATE_FIXED + hlen || b.length !== STATE_FIXED + hlen + b.readUInt16BE(at + hlen)) {
    return null;
  }
  // The psk is a secret: a buffer of its own, never a slice of Node's shared pool.
  const psk = Buffer.allocUnsafeSlow(hlen);
  at += b.copy(psk, 0, at, at + hlen);
  const m = b.readUInt16BE(at);
  at += 2;
  const clientSpki = Buffer.from(b.subarray(at, (at += m)));
  const ticketId = Buffer.from(b.subarray(at, at + TICKET_ID_SIZE));
  return {
    suiteIds,
    issued: Number(issued),
    lifetime,
    authTime: Number(authTime),
    keyId,
    psk,
    clientSpki,
    ticketId,
  };
}

/** Seals `state` under `key`: key_name ‖ nonce ‖ AES-256-GCM(state, aad = key_name) ‖ tag. */
export function sealTicket(key: TicketKey, state: TicketState, random: RandomSource): Buffer {
  const plain = encodeTicketState(state);
  const nonce = random(TICKET_NONCE_SIZE);
  const out = Buffer.allocUnsafe(TICKET_OVERHEAD + plain.length);
  key.name.copy(out, 0);
  nonce.copy(out, TICKET_KEY_NAME_SIZE);
  const head = TICKET_KEY_NAME_SIZE + TICKET_NONCE_SIZE;
  gcmSealInto('aes-256-gcm', key.encKey, nonce, key.name, [plain], out, head);
  plain.fill(0);
  return out;
}

/**
 * Opens a ticket with whichever of `keys` its key_name names; null if none does, the
 * tag does not verify or the state is malformed. The decrypted bytes are wiped.
 */
export function openTicket(keys: readonly TicketKey[], ticket: Buffer): TicketState | null {
  if (ticket.length < TICKET_OVERHEAD + STATE_FIXED) return null;
  const name = ticket.subarray(0, TICKET_KEY_NAME_SIZE);
  // Key names are public (they lead every ticket); the comparison is constant-time anyway.
  const key = keys.find((k) => constantTimeEqual(k.name, name));
  if (!key) return null;
  const head = TICKET_KEY_NAME_SIZE + TICKET_NONCE_SIZE;
  const tagAt = ticket.length - TICKET_TAG_SIZE;
  const plain = gcmOpen(
    'aes-256-gcm',
    key.encKey,
    ticket.subarray(TICKET_KEY_NAME_SIZE, head),
    Buffer.from(name),
    ticket.subarray(head, tagAt),
    ticket.subarray(tagAt),
  );
  if (!plain) return null;
  const state = decodeTicketState(plain);
  plain.fill(0);
  return state;
}
