/**
 * Resumption (PROTOCOL.md §6a) in memory: a ticket context with a movable clock, a full
 * handshake that gets a ticket, and a pair that offers one. Every byte each side sends is
 * captured (protocol-pair.ts), so tests can alter, drop or replay frames.
 */
import { randomBytes } from 'node:crypto';
import { ClientConnection, ServerConnection } from '../../src/protocol/index.js';
import type { ClientConnectionOptions, ServerConnectionOptions } from '../../src/protocol/index.js';
import { TicketKey } from '../../src/protocol/ticket.js';
import type { SessionTicket, TicketContext } from '../../src/protocol/ticket.js';
import { Endpoint, feed, fixturePrivateKey } from './protocol-pair.js';
import type { Pair } from './protocol-pair.js';

export const serverKey = fixturePrivateKey('server-2048');

/** A ticket context whose clock the test sets (`clock.now`, Unix seconds). */
export interface TestTickets extends TicketContext {
  keys: TicketKey[];
  clock: { now: number };
  maxAge?: number;
}

export function testTickets(
  options: { keys?: Buffer[]; lifetime?: number; maxAge?: number; claim?: TicketContext['claim'] } = {},
): TestTickets {
  const clock = { now: 1_800_000_000 };
  return {
    keys: (options.keys ?? [randomBytes(32)]).map((k) => TicketKey.from(k)),
    lifetime: options.lifetime ?? 7200,
    ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
    now: () => clock.now,
    clock,
    ...(options.claim ? { claim: options.claim } : {}),
  };
}

export interface TicketPair extends Pair {
  /** Tickets the client received (`handler.newTicket`), their psk copied. */
  readonly tickets: SessionTicket[];
}

/**
 * A client and a server wired together (deliveries queued, as over a socket) and started.
 * The server sends its NewTicket as soon as it is open (as the SDK's server does once the
 * client is accepted), unless `issue` is false.
 */
export function ticketPair(
  clientOptions: Partial<ClientConnectionOptions>,
  serverOptions: Partial<ServerConnectionOptions>,
  issue = true,
  serverHandler: object = {},
): TicketPair {
  const c = new Endpoint();
  const s = new Endpoint();
  const tickets: SessionTicket[] = [];
  const first = serverOptions.keys?.[0];
  const key = first ? ('publicKey' in first ? first.publicKey : first) : serverKey.publicKey;
  const client = new ClientConnection(
    { ...c.handler(), newTicket: (t) => tickets.push({ ...t, psk: Buffer.from(t.psk) }) },
    { serverKey: key, ...clientOptions },
  );
  let server: ServerConnection | null = null;
  const sHandler = s.handler();
  server = new ServerConnection(
    {
      ...sHandler,
      ...serverHandler,
      established: (info) => {
        sHandler.established(info);
        if (issue) queueMicrotask(() => server!.issueTicket());
      },
    },
    { keys: [serverKey], ...serverOptions },
  );
  const errors: Pair['errors'] = [];
  const queue: Array<() => void> = [];
  let pumping = false;
  const enqueue = (fn: () => void): void => {
    queue.push(fn);
    if (pumping) return;
    pumping = true;
    try {
      while (queue.length) queue.shift()!();
    } finally {
      pumping = false;
    }
  };
  c.deliver = (data) => enqueue(() => feed(server!, data, 'server', errors));
  s.deliver = (data) => enqueue(() => feed(client, data, 'client', errors));
  client.start();
  return { client, server, c, s, errors, tickets };
}

/** Lets the microtask that issues the server's ticket run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A full handshake that asks for a ticket; returns the ticket (and the pair). */
export async function firstTicket(
  tickets: TicketContext,
  clientOptions: Partial<ClientConnectionOptions> = {},
  serverOptions: Partial<ServerConnectionOptions> = {},
): Promise<{ ticket: SessionTicket; pair: TicketPair }> {
  const pair = ticketPair({ tickets: true, ...clientOptions }, { tickets, ...serverOptions });
  await settle();
  const ticket = pair.tickets[0];
  if (!ticket || pair.errors.length) throw new Error('no ticket from the full handshake');
  return { ticket, pair };
}

/** A copy of a ticket (its psk copied too: the core wipes the one it uses). */
export function copyTicket(t: SessionTicket, change: Partial<SessionTicket> = {}): SessionTicket {
  return { ...t, ticket: Buffer.from(t.ticket), psk: Buffer.from(t.psk), ...change };
}

/** The frame types a side sent, in order (0x17 records included). */
export function frameTypes(e: Endpoint): number[] {
  return e.sent.map((b) => b[0]!);
}
