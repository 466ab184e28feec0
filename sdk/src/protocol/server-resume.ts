/**
 * The server's reading of a ResumeHello (PROTOCOL.md §6a "Server checks"), short of the
 * key exchange: preamble, structure and suite as for a ClientHello (their own errors and
 * alerts), then the ticket checks, every one of which fails the same way — null, answered
 * with ResumeRefused — so that nothing on the wire (and no error or log line) tells which
 * failed:
 *
 *   key_id held → key_name known, GCM opens → state parses → state suite = hello suite
 *   → state key_id = hello key_id → not expired (nor issued > 60 s ahead) → within maxAge
 *   of auth_time → binder (constant time) → client key usable → single use (the id is remembered only now, so
 *   that a hello without the psk cannot use a ticket up)
 */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import { supportedClientKey } from './client-auth.js';
import { DEFAULT_TICKET_MAX_AGE, TICKET_CLOCK_SKEW } from './constants.js';
import { constantTimeEqual } from './crypto.js';
import { decodeResumeHello } from './handshake-messages.js';
import type { ResumeHello } from './handshake-messages.js';
import { resumeBinder } from './key-schedule.js';
import { acceptedSuite, suiteFromIds } from './suite.js';
import type { Suite } from './suite.js';
import { openTicket } from './ticket.js';
import type { TicketContext, TicketState } from './ticket.js';

/** A ResumeHello that passed every check: what the resumed handshake goes on with. */
export interface AcceptedTicket {
  readonly hello: ResumeHello;
  readonly suite: Suite;
  readonly keyIndex: number;
  /** The ticket's psk (the caller wipes it once the keys are derived). */
  readonly psk: Buffer;
  /** The client key of the session the ticket came from; null if it had none. */
  readonly clientKey: PublicKey | null;
  /** The ticket's auth_time: carried into a ticket issued on the resumed session. */
  readonly authTime: number;
}

/**
 * Reads a ResumeHello. Throws for a malformed hello or a suite this server does not accept
 * (as for a ClientHello); returns null when the ticket is refused, whatever the reason.
 */
export function readResumeHello(
  frame: Buffer,
  suites: readonly Suite[],
  publicKeys: readonly PublicKey[],
  tickets: TicketContext | undefined,
): AcceptedTicket | null {
  const hello = decodeResumeHello(frame, (ids) => suiteFromIds(ids[0], ids[1], ids[2])?.hashLength ?? null);
  const suite = acceptedSuite(hello.suiteIds, suites);
  if (!tickets) return null;
  const keyIndex = publicKeys.findIndex((k) => k.fingerprintBytes().equals(hello.keyId));
  if (keyIndex < 0) return null;
  const state = openTicket(tickets.keys, hello.ticket);
  if (!state) return null;
  const clientKey = checkTicket(hello, suite, state, tickets);
  if (clientKey === undefined) {
    state.psk.fill(0);
    return null;
  }
  return { hello, suite, keyIndex, psk: state.psk, clientKey, authTime: state.authTime };
}

/** The checks after the ticket opened; the client key (or null) if all pass, else undefined. */
function checkTicket(
  hello: ResumeHello,
  suite: Suite,
  state: TicketState,
  tickets: TicketContext,
): PublicKey | null | undefined {
  if (state.suiteIds.join() !== suite.ids.join()) return undefined;
  if (!constantTimeEqual(state.keyId, hello.keyId)) return undefined;
  const now = tickets.now();
  if (!(state.issued + state.lifetime > now && state.issued <= now + TICKET_CLOCK_SKEW)) return undefined;
  // The chain's age: a ticket from a session whose full handshake is older than maxAge.
  if (now - state.authTime > (tickets.maxAge ?? DEFAULT_TICKET_MAX_AGE)) return undefined;
  if (state.psk.length !== suite.hashLength) return undefined;
  const binder = resumeBinder(suite, state.psk, hello.binderInput);
  if (!constantTimeEqual(binder, hello.binder)) return undefined;
  let clientKey: PublicKey | null = null;
  if (state.clientSpki.length > 0) {
    try {
      clientKey = supportedClientKey(state.clientSpki);
    } catch {
      return undefined;
    }
  }
  if (tickets.claim && !tickets.claim(state.ticketId, state.issued + state.lifetime)) return undefined;
  return clientKey;
}
