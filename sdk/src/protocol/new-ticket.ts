/**
 * The NewTicket record (type 0x0a, server → client, PROTOCOL.md §6a): its payload, the
 * server's issuing of a ticket for a session it accepted, and the client's reading of one.
 *
 *   payload = u32 lifetime_s ‖ u16 n ‖ ticket (n bytes)     lifetime 1–604800, n 1–2048, nothing after
 */
import { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import { DEFAULT_TICKET_MAX_AGE, MAX_TICKET_LIFETIME, MAX_TICKET_SIZE, TICKET_ID_SIZE } from './constants.js';
import type { RandomSource } from './crypto.js';
import { protocolError } from './end-records.js';
import type { Suite } from './suite.js';
import { sealTicket } from './ticket.js';
import type { SessionTicket, TicketContext } from './ticket.js';

export function encodeNewTicket(lifetime: number, ticket: Buffer): Buffer {
  const out = Buffer.allocUnsafe(6 + ticket.length);
  out.writeUInt32BE(lifetime, 0);
  out.writeUInt16BE(ticket.length, 4);
  ticket.copy(out, 6);
  return out;
}

/** The strict reading of a NewTicket payload; null if malformed. */
export function decodeNewTicket(payload: Buffer): { lifetime: number; ticket: Buffer } | null {
  if (payload.length < 6) return null;
  const lifetime = payload.readUInt32BE(0);
  const n = payload.readUInt16BE(4);
  if (lifetime < 1 || lifetime > MAX_TICKET_LIFETIME || n < 1 || n > MAX_TICKET_SIZE) return null;
  if (payload.length !== 6 + n) return null;
  return { lifetime, ticket: Buffer.from(payload.subarray(6)) };
}

/** What the server seals into a ticket about the session it accepted. */
export interface IssuedSession {
  readonly suite: Suite;
  readonly serverKey: PublicKey;
  readonly clientKey: PublicKey | null;
  /** The session's resumption secret; wiped here once sealed. */
  readonly psk: Buffer;
  /**
   * A resumed session: its ticket's auth_time, carried unchanged. Absent for a full
   * handshake (the ticket's auth_time is now).
   */
  readonly authTime?: number;
}

/**
 * The NewTicket payload for an accepted session, sealed under the context's first key
 * (ticket_id then the nonce drawn from `random`); null when the context has no key or the
 * chain is at its maxAge. Its lifetime is min(lifetime, auth_time + maxAge − now). The psk
 * is wiped either way.
 */
export function issueTicket(ctx: TicketContext, session: IssuedSession, random: RandomSource): Buffer | null {
  const key = ctx.keys[0];
  try {
    if (!key) return null;
    const now = ctx.now();
    const authTime = session.authTime ?? now;
    // A chain ends maxAge after its full handshake: no ticket lives past that.
    const lifetime = Math.min(ctx.lifetime, authTime + (ctx.maxAge ?? DEFAULT_TICKET_MAX_AGE) - now);
    if (!(lifetime >= 1)) return null;
    const ticket = sealTicket(
      key,
      {
        suiteIds: session.suite.ids,
        issued: now,
        lifetime,
        authTime,
        keyId: session.serverKey.fingerprintBytes(),
        psk: session.psk,
        clientSpki: session.clientKey ? session.clientKey.toSpkiDer() : Buffer.alloc(0),
        ticketId: random(TICKET_ID_SIZE),
      },
      random,
    );
    return encodeNewTicket(lifetime, ticket);
  } finally {
    session.psk.fill(0);
  }
}

/**
 * The client's reading of a NewTicket (§6a receiver rules): only if it asked, only the
 * first, never between fragments, well-formed; anything else is ERR_PROTOCOL.
 */
export function readNewTicket(
  payload: Buffer,
  state: { readonly asked: boolean; readonly assembling: boolean },
  session: Omit<IssuedSession, 'psk'> & { readonly psk: Buffer | null },
): SessionTicket {
  if (!state.asked) throw protocolError('a NewTicket the client did not ask for');
  // The psk goes with the first ticket: none left means one came already.
  if (!session.psk) throw protocolError('a second NewTicket');
  if (state.assembling) throw protocolError('a NewTicket between fragments');
  const t = decodeNewTicket(payload);
  if (!t) throw protocolError('malformed NewTicket');
  return {
    ticket: t.ticket,
    psk: session.psk,
    lifetime: t.lifetime,
    suite: session.suite,
    serverKey: session.serverKey,
    clientKey: session.clientKey,
  };
}
