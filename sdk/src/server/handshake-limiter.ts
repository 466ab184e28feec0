/**
 * Admission control before authentication. Anyone can open a TCP connection, and every
 * connection that gets as far as a ClientHello costs the server an RSA private operation,
 * so a server caps how many connections run their handshake at once, overall and per
 * remote address, and decides before reading a single byte.
 *
 * When every slot is taken, a new connection evicts the oldest one that has not yet sent a
 * complete ClientHello: a peer that connects and stays silent, or drips a byte at a time,
 * holds a slot only until someone else needs it. A legitimate client sends its hello right
 * after connecting, so it is evictable for half a round trip at most. Connections past
 * their hello (decrypting, or waiting for the client's Finished) are never evicted; when
 * they fill every slot, new connections are refused.
 *
 * The per-address cap works the same way within one address: a newcomer from an address at
 * its cap evicts that address's oldest connection without a hello, so a flooder's silent
 * connections cannot lock out a legitimate client behind the same address (a NAT, a shared
 * host); it is refused only when all of the address's slots are past their hello.
 */
import { isIPv6 } from 'node:net';

/** The limit that turned a connection away (the name of the server option). */
export type RefusalLimit =
  'maxConnections' | 'maxHandshakes' | 'maxHandshakesPerAddress' | 'maxPendingDecrypts' | 'handshakeRate';

export interface HandshakeLimits {
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
}

/**
 * The decision for a new connection. `evict`, if set, has already been removed from the
 * limiter; `limit` then names the cap it was evicted for.
 */
export type Admission<T> =
  | { readonly admitted: true; readonly evict: null }
  | { readonly admitted: true; readonly evict: T; readonly limit: RefusalLimit }
  | { readonly admitted: false; readonly limit: RefusalLimit };

export class HandshakeLimiter<T> {
  readonly #limits: HandshakeLimits;
  readonly #evictable: (item: T) => boolean;
  /** Handshakes in progress and their address keys, oldest first (Map keeps insertion order). */
  readonly #items = new Map<T, string>();
  /** The same handshakes grouped by address key, oldest first. */
  readonly #perAddress = new Map<string, Set<T>>();

  /**
   * @param limits The caps.
   * @param evictable Whether a handshake may be evicted for a newcomer (it has not sent its hello yet).
   */
  constructor(limits: HandshakeLimits, evictable: (item: T) => boolean) {
    this.#limits = limits;
    this.#evictable = evictable;
  }

  /** Handshakes in progress. */
  get size(): number {
    return this.#items.size;
  }

  /** Handshakes in progress from `address`'s source (IPv6: its /64). */
  countFrom(address: string | undefined): number {
    return this.#perAddress.get(addressKey(address))?.size ?? 0;
  }

  /** The handshakes in progress, oldest first. */
  items(): IterableIterator<T> {
    return this.#items.keys();
  }

  /** Whether a connection from `address` may start a handshake now. */
  admit(address: string | undefined): Admission<T> {
    const key = addressKey(address);
    const own = this.#perAddress.get(key);
    if (own && own.size >= this.#limits.maxHandshakesPerAddress) {
      // Evicting one of the address's own keeps the total as it was: within maxHandshakes.
      const evict = this.#oldestEvictable(own.keys());
      if (evict === null) return { admitted: false, limit: 'maxHandshakesPerAddress' };
      this.delete(evict);
      return { admitted: true, evict, limit: 'maxHandshakesPerAddress' };
    }
    if (this.#items.size < this.#limits.maxHandshakes) return { admitted: true, evict: null };
    const evict = this.#oldestEvictable(this.#items.keys());
    if (evict === null) return { admitted: false, limit: 'maxHandshakes' };
    this.delete(evict);
    return { admitted: true, evict, limit: 'maxHandshakes' };
  }

  #oldestEvictable(items: Iterable<T>): T | null {
    for (const item of items) if (this.#evictable(item)) return item;
    return null;
  }

  /** Records an admitted handshake. */
  add(item: T, address: string | undefined): void {
    const key = addressKey(address);
    this.#items.set(item, key);
    const own = this.#perAddress.get(key);
    if (own) own.add(item);
    else this.#perAddress.set(key, new Set([item]));
  }

  /** Forgets a handshake that ended (established, failed or evicted). Returns whether it was held. */
  delete(item: T): boolean {
    const key = this.#items.get(item);
    if (key === undefined) return false;
    this.#items.delete(item);
    const own = this.#perAddress.get(key)!;
    own.delete(item);
    if (own.size === 0) this.#perAddress.delete(key);
    return true;
  }
}

/**
 * The key under which a remote address is counted: the address itself for IPv4 (also when
 * IPv4-mapped), its /64 prefix for IPv6 — one subscriber usually holds a whole /64, so
 * counting single IPv6 addresses would give one attacker 2^64 quotas.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return '';
  const bare = address.split('%', 1)[0]!.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (mapped) return mapped[1]!;
  if (!isIPv6(bare)) return bare;
  const [head = '', tail] = bare.split('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let prefix = groups(head);
  if (tail !== undefined) {
    // Groups after '::' (an embedded IPv4 counts as two): the rest of the eight are zeros.
    const rest = groups(tail).reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
    prefix = [...prefix, ...Array<string>(8 - prefix.length - rest).fill('0')];
  }
  return `${prefix
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
