/**
 * The client's resumption tickets (PROTOCOL.md §6a), in memory: `ClientOptions.resumption`.
 *
 * A ticket is filed under the server key, the suite and the client key (or none) of the
 * session that got it, and only a connection with the same three takes it: a client with
 * another identity or another suite never offers it. A ticket is taken out when offered
 * (used once, whatever the server answers); expired tickets are dropped, with their
 * secrets wiped. Bounded: `maxPerServer` tickets per (server key, suite, client key) —
 * the oldest go first — and 1024 such entries, the least recently used dropped first.
 */
import type { PublicKey } from '@secsess/keys';
import type { SessionTicket, Suite } from '../protocol/index.js';
import { checkInt, checkObject } from '../common/options.js';

/** Options of {@link TicketStore}. */
export interface TicketStoreOptions {
  /**
   * Tickets kept per server key, suite and client key; the oldest is dropped for a new one.
   * 1–64. Default 8.
   */
  readonly maxPerServer?: number;
  /** @internal The clock, in ms (tests freeze or advance it). Default `Date.now`. */
  readonly now?: () => number;
}

/** Entries (server key × suite × client key) a store holds at most. */
export const MAX_TICKET_ENTRIES = 1024;

interface Held {
  readonly ticket: SessionTicket;
  /** When it expires, by this store's clock (ms). */
  readonly expires: number;
}

let store: (s: TicketStore, ticket: SessionTicket) => void;
let take: (s: TicketStore, server: PublicKey, suite: Suite, client: PublicKey | null) => SessionTicket | null;

/**
 * Resumption tickets in memory, for one or several `Client`s (`resumption: store`): a
 * resumed connection costs neither side an RSA operation. Tickets hold secrets: the store
 * lives in process memory only and `clear()` wipes them.
 */
export class TicketStore {
  readonly #maxPerServer: number;
  readonly #now: () => number;
  /** By entry key, least recently used first (Map keeps insertion order). */
  readonly #entries = new Map<string, Held[]>();
  #size = 0;

  static {
    store = (s, ticket) => s.#add(ticket);
    take = (s, server, suite, client) => s.#take(server, suite, client);
  }

  /** @throws TypeError / RangeError for invalid options. */
  constructor(options: TicketStoreOptions = {}) {
    const o = checkObject(options, 'options');
    this.#maxPerServer = checkInt('maxPerServer', o.maxPerServer, 8, 1, 64);
    if (o.now !== undefined && typeof o.now !== 'function')
      throw new TypeError('options.now must be a function');
    this.#now = o.now ?? Date.now;
  }

  /** Tickets held (expired ones included until they are next looked at). */
  get size(): number {
    return this.#size;
  }

  /** Drops every ticket, wiping its secret. */
  clear(): void {
    for (const held of this.#entries.values()) for (const h of held) h.ticket.psk.fill(0);
    this.#entries.clear();
    this.#size = 0;
  }

  #add(ticket: SessionTicket): void {
    const key = entryKey(ticket.serverKey, ticket.suite, ticket.clientKey);
    const held = this.#entries.get(key) ?? [];
    this.#entries.delete(key);
    this.#prune(held);
    held.push({ ticket, expires: this.#now() + ticket.lifetime * 1000 });
    this.#size++;
    while (held.length > this.#maxPerServer) this.#drop(held.shift()!);
    this.#entries.set(key, held);
    while (this.#entries.size > MAX_TICKET_ENTRIES) {
      const [oldest, tickets] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      for (const h of tickets) this.#drop(h);
    }
  }

  #take(server: PublicKey, suite: Suite, client: PublicKey | null): SessionTicket | null {
    const key = entryKey(server, suite, client);
    const held = this.#entries.get(key);
    if (!held) return null;
    this.#prune(held);
    // The newest: the longest life left.
    const h = held.pop();
    if (h) this.#size--;
    if (held.length === 0) this.#entries.delete(key);
    return h?.ticket ?? null;
  }

  /** Drops the expired tickets of one entry. */
  #prune(held: Held[]): void {
    const now = this.#now();
    for (let i = held.length - 1; i >= 0; i--) {
      if (held[i]!.expires <= now) this.#drop(held.splice(i, 1)[0]!);
    }
  }

  #drop(h: Held): void {
    h.ticket.psk.fill(0);
    this.#size--;
  }
}

function entryKey(server: PublicKey, suite: Suite, client: PublicKey | null): string {
  return `${server.fingerprint()} ${suite.ids.join('.')} ${client ? client.fingerprint() : '-'}`;
}

/** @internal Files a ticket the server sent. */
export function storeTicket(s: TicketStore, ticket: SessionTicket): void {
  store(s, ticket);
}

/**
 * @internal Takes out the newest unexpired ticket for this server key, suite and client key
 * (the caller offers it once); null if there is none.
 */
export function takeTicket(
  s: TicketStore,
  server: PublicKey,
  suite: Suite,
  client: PublicKey | null,
): SessionTicket | null {
  return take(s, server, suite, client);
}
