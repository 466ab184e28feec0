/**
 * The server's resumption tickets (PROTOCOL.md §6a, README "Resumption"): the `tickets`
 * option, its validation, and the {@link TicketContext} the core's connections use — the
 * prepared ticket keys (swapped by `server.setTicketKeys()`), the lifetime, the clock and
 * the single-use memory.
 *
 * Single use is per process: a fleet shares no state, so a ticket may be used once on each
 * process that holds its ticket key. The memory holds at most 100 000 ticket ids; when it
 * is full (of unexpired ids), tickets are refused — a full handshake — never accepted twice.
 */
import type { Buffer } from 'node:buffer';
import {
  DEFAULT_TICKET_MAX_AGE,
  MAX_TICKET_LIFETIME,
  TICKET_KEY_SIZE,
  TicketKey,
} from '../protocol/index.js';
import type { TicketContext } from '../protocol/index.js';
import { checkInt } from '../common/options.js';

/** The `tickets` option of {@link ServerOptions}. */
export interface TicketOptions {
  /**
   * Ticket keys, 32 random bytes each (`generateTicketKey()`, or a file read with
   * `readTicketKeyFile()`): the first seals new tickets, every one is accepted. To rotate,
   * put a new key first and keep the old one for one `lifetime`. Servers of a fleet that
   * share these keys (and a server key) accept each other's tickets. 1–16 keys.
   */
  readonly keys: readonly Uint8Array[];
  /** Seconds a ticket is valid, 1–604800 (7 days). Default 7200 (2 hours). */
  readonly lifetime?: number;
  /**
   * Seconds a chain of resumptions may last from the full handshake it started from,
   * 1–604800. A resumed session's ticket gets the same start and expires by then; older
   * tickets are refused (a full handshake). This bounds how long keying material derived
   * from one authentication lives (RFC 8446 §4.6.1), whatever the lifetimes and rotations.
   * Default 86400 (1 day).
   */
  readonly maxAge?: number;
  /**
   * Accept each ticket once (per process: a fleet shares no state). Remembers up to
   * 100 000 tickets until they expire; when that memory is full, tickets are refused (the
   * client falls back to a full handshake). Default false.
   */
  readonly singleUse?: boolean;
  /** @internal The clock, in Unix seconds (tests move it). Default: the system clock. */
  readonly now?: () => number;
}

/** Default lifetime of a ticket, seconds (2 hours). */
export const DEFAULT_TICKET_LIFETIME = 7200;
/** Default cap on a chain of resumptions, seconds since its full handshake (1 day). */
export { DEFAULT_TICKET_MAX_AGE };
/** Ticket keys a server holds at most (the issuing key and those it still accepts). */
export const MAX_TICKET_KEYS = 16;
/** Ticket ids a single-use server remembers at most. */
export const MAX_REMEMBERED_TICKETS = 100_000;

/** @internal The `tickets` option, checked, with its keys prepared. */
export interface ResolvedTicketOptions {
  readonly keys: readonly TicketKey[];
  readonly lifetime: number;
  readonly maxAge: number;
  readonly singleUse: boolean;
  readonly now: () => number;
}

/**
 * @internal Checks ticket keys (an array of 1–16 Uint8Arrays of 32 bytes) and prepares them.
 * @throws TypeError naming `name` (never echoing a key).
 */
export function checkTicketKeys(keys: unknown, name: string): TicketKey[] {
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > MAX_TICKET_KEYS) {
    throw new TypeError(`${name} must be an array of 1 to ${MAX_TICKET_KEYS} ticket keys`);
  }
  return keys.map((k: unknown, i) => {
    if (!(k instanceof Uint8Array) || k.length !== TICKET_KEY_SIZE) {
      throw new TypeError(`${name}[${i}] must be a ticket key of 32 bytes (a Buffer or Uint8Array)`);
    }
    return TicketKey.from(k);
  });
}

/** @internal */
export function resolveTicketOptions(value: TicketOptions | undefined): ResolvedTicketOptions | null {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object') throw new TypeError('options.tickets must be an object');
  const keys = checkTicketKeys(value.keys, 'options.tickets.keys');
  const lifetime = checkInt(
    'tickets.lifetime',
    value.lifetime,
    DEFAULT_TICKET_LIFETIME,
    1,
    MAX_TICKET_LIFETIME,
  );
  const maxAge = checkInt('tickets.maxAge', value.maxAge, DEFAULT_TICKET_MAX_AGE, 1, MAX_TICKET_LIFETIME);
  if (value.singleUse !== undefined && typeof value.singleUse !== 'boolean') {
    throw new TypeError('options.tickets.singleUse must be a boolean');
  }
  if (value.now !== undefined && typeof value.now !== 'function') {
    throw new TypeError('options.tickets.now must be a function');
  }
  return { keys, lifetime, maxAge, singleUse: value.singleUse ?? false, now: value.now ?? unixNow };
}

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * @internal The tickets of one server: `context` is what its connections are given as
 * `tickets` (undefined while it has no ticket keys: requests ignored, tickets refused).
 */
export class ServerTickets {
  #context: ServerTicketContext | undefined;

  constructor(options: ResolvedTicketOptions | null) {
    this.#context = options ? new ServerTicketContext(options) : undefined;
  }

  get context(): TicketContext | undefined {
    return this.#context;
  }

  /**
   * `server.setTicketKeys()`: other keys in force for every handshake from now on; a server
   * without tickets gets them with the default lifetime. Throws TypeError for bad keys.
   */
  setKeys(keys: unknown): void {
    const prepared = checkTicketKeys(keys, 'keys');
    if (this.#context) this.#context.keys = prepared;
    else {
      const options = {
        keys: prepared,
        lifetime: DEFAULT_TICKET_LIFETIME,
        maxAge: DEFAULT_TICKET_MAX_AGE,
        singleUse: false,
        now: unixNow,
      };
      this.#context = new ServerTicketContext(options);
    }
  }
}

class ServerTicketContext implements TicketContext {
  keys: readonly TicketKey[];
  readonly lifetime: number;
  readonly maxAge: number;
  readonly now: () => number;
  readonly claim: ((ticketId: Buffer, expires: number) => boolean) | undefined;

  constructor(options: ResolvedTicketOptions) {
    this.keys = options.keys;
    this.lifetime = options.lifetime;
    this.maxAge = options.maxAge;
    this.now = options.now;
    if (options.singleUse) {
      const memory = new TicketMemory(MAX_REMEMBERED_TICKETS, options.now);
      this.claim = (id, expires) => memory.claim(id, expires);
    }
  }
}

/**
 * @internal The ids of the tickets used, each until its ticket expires: bounded, refusing
 * (false) when full rather than forgetting an unexpired id.
 */
export class TicketMemory {
  readonly #max: number;
  readonly #now: () => number;
  /** id (hex) → expiry (Unix seconds), in order of use. */
  readonly #seen = new Map<string, number>();
  /** When a full sweep last ran (Unix seconds): at most one a second. */
  #swept = -1;

  constructor(max: number, now: () => number) {
    this.#max = max;
    this.#now = now;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True (and remembered until `expires`) if `id` is new and there is room; else false. */
  claim(id: Buffer, expires: number): boolean {
    const key = id.toString('hex');
    const now = this.#now();
    const known = this.#seen.get(key);
    if (known !== undefined) {
      if (known > now) return false;
      this.#seen.delete(key);
    }
    if (this.#seen.size >= this.#max) this.#sweep(now);
    if (this.#seen.size >= this.#max) return false;
    this.#seen.set(key, expires);
    return true;
  }

  /** Forgets the expired ids (every entry is looked at: at most once a second). */
  #sweep(now: number): void {
    if (this.#swept === now) return;
    this.#swept = now;
    for (const [key, expires] of this.#seen) if (expires <= now) this.#seen.delete(key);
  }
}
