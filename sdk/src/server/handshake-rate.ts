/**
 * The handshake rate limit: a token bucket per source (an IPv4 address, an IPv6 /64, as
 * {@link addressKey} groups them) on the handshakes that reach RSA. `maxHandshakesPerAddress`
 * caps how many run at once, not how often: one host replaying ClientHellos on a few
 * connections could otherwise make the server decrypt as fast as its workers go.
 *
 * A source's bucket holds `burst` tokens and refills at `perSecond`; a ClientHello accepted
 * for decryption takes one, and a hello that finds the bucket empty is refused before any
 * RSA work (a connection that finds it empty, before a byte is read). Refusal depends on
 * the source's own past alone, never on the hello's content.
 *
 * The table of buckets is bounded. A bucket that has refilled is the same as no bucket,
 * so full ones are dropped as they are met (least recently used first). When the table is
 * still full, the least recently used bucket is dropped: that source starts over with a
 * full bucket. An attacker can only profit from that with more sources than the table
 * holds, each sending a hello within a refill period — and that many sources already
 * exceed any server's RSA throughput at the per-source rate, so the global limits
 * (`maxHandshakes`, `maxPendingDecrypts`) are what bind then.
 */
import { addressKey } from './handshake-limiter.js';

export interface HandshakeRateLimits {
  /** Tokens added per second; 0 turns the limit off. */
  readonly handshakeRate: number;
  /** Tokens a bucket holds: handshakes a source may start at once after a quiet spell. */
  readonly handshakeBurst: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, monotonic). */
  at: number;
}

/** Full buckets dropped from the old end of the table per call, at most (amortized cleanup). */
const PRUNE_PER_CALL = 2;

export class HandshakeRate {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxSources: number;
  readonly #now: () => number;
  /** Buckets by source key, least recently used first (Map keeps insertion order). */
  readonly #buckets = new Map<string, Bucket>();

  /**
   * @param limits The rate and burst.
   * @param maxSources Buckets kept at most.
   * @param now A monotonic clock in ms (tests pass their own).
   */
  constructor(limits: HandshakeRateLimits, maxSources: number, now: () => number = () => performance.now()) {
    if (!Number.isInteger(maxSources) || maxSources < 1)
      throw new RangeError('maxSources must be a positive integer');
    this.#perMs = limits.handshakeRate / 1000;
    this.#burst = limits.handshakeBurst;
    this.#maxSources = maxSources;
    this.#now = now;
  }

  /** Whether the limit is on. */
  get enabled(): boolean {
    return this.#perMs > 0;
  }

  /** Sources with a bucket that has not refilled yet (or not been looked at since). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Whether `address` has a token now, without taking it: a connection from a source whose
   * bucket is empty is refused at accept, before a byte is read (its hello would be).
   */
  allows(address: string | undefined): boolean {
    if (!this.enabled) return true;
    const bucket = this.#buckets.get(addressKey(address));
    if (!bucket) return true;
    return bucket.tokens + (this.#now() - bucket.at) * this.#perMs >= 1;
  }

  /**
   * Takes a token for a handshake from `address`: true if the source may go on to RSA,
   * false if it is over its rate (nothing is taken then).
   */
  take(address: string | undefined): boolean {
    if (!this.enabled) return true;
    const now = this.#now();
    this.#prune(now);
    const key = addressKey(address);
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
      this.#refill(bucket, now);
    } else {
      if (this.#buckets.size >= this.#maxSources) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#burst, at: now };
    }
    // Re-inserted: most recently used last.
    this.#buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #refill(bucket: Bucket, now: number): void {
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#perMs);
    bucket.at = now;
  }

  /** Drops a few of the least recently used buckets if they have refilled. */
  #prune(now: number): void {
    for (let i = 0; i < PRUNE_PER_CALL; i++) {
      const oldest = this.#buckets.entries().next();
      if (oldest.done) return;
      const [key, bucket] = oldest.value;
      this.#refill(bucket, now);
      if (bucket.tokens < this.#burst) return;
      this.#buckets.delete(key);
    }
  }
}
