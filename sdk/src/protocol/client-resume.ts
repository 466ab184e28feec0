/**
 * The client's side of resumption (PROTOCOL.md §6a): checking that a ticket fits the
 * connection it is offered on, and the ResumeHello with its binder.
 */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import { MAX_TICKET_SIZE } from './constants.js';
import { FLAG_TICKETS, encodeResumeHello } from './handshake-messages.js';
import { resumeBinder } from './key-schedule.js';
import type { Suite } from './suite.js';
import type { SessionTicket } from './ticket.js';

/**
 * Checks a ticket given as `resume`: it must come from a session with this server key,
 * suite and client key (or none), and be well-formed.
 * @throws TypeError naming what does not fit (a caller's mistake, never the server's).
 */
export function checkResumeTicket(
  t: SessionTicket,
  suite: Suite,
  serverKey: PublicKey | null,
  clientKey: PublicKey | null,
): void {
  if (
    t === null ||
    typeof t !== 'object' ||
    !(t.ticket instanceof Uint8Array) ||
    !(t.psk instanceof Uint8Array)
  ) {
    throw new TypeError('resume must be a ticket received through handler.newTicket');
  }
  if (!serverKey) throw new TypeError('resume needs serverKey: a ticket is offered to a known server key');
  if (!t.serverKey?.equals?.(serverKey)) throw new TypeError('resume: the ticket is for another server key');
  if (t.suite?.ids?.join() !== suite.ids.join())
    throw new TypeError('resume: the ticket is for another suite');
  const same =
    t.clientKey === null ? clientKey === null : clientKey !== null && t.clientKey?.equals?.(clientKey);
  if (!same) throw new TypeError('resume: the ticket is for another client key');
  if (t.psk.length !== suite.hashLength || t.ticket.length < 1 || t.ticket.length > MAX_TICKET_SIZE) {
    throw new TypeError('resume: malformed ticket');
  }
}

/** The ResumeHello offering `t`, its binder computed over the frame (the psk is not wiped here). */
export function resumeHelloFor(
  t: SessionTicket,
  random: Buffer,
  ephemeral: Buffer,
  wantTickets: boolean,
): Buffer {
  const suite = t.suite;
  return encodeResumeHello(
    {
      suiteIds: suite.ids,
      flags: wantTickets ? FLAG_TICKETS : 0,
      random,
      ephemeral,
      keyId: t.serverKey.fingerprintBytes(),
      ticket: t.ticket,
    },
    suite.hashLength,
    (binderInput) => resumeBinder(suite, t.psk, binderInput),
  );
}
