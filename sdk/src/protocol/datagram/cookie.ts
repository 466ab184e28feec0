/**
 * The stateless address proof of PROTOCOL.md §D2:
 *
 *   cookie = first 16 bytes of HMAC-SHA-256(cookie_secret,
 *              "secsess v1 cookie" ‖ u8 family ‖ address ‖ u16 port)
 *
 * `cookie_secret` is 32 random bytes replaced every 60 s; a cookie verifies under the
 * current or the previous secret, so it lives 60–120 s. Secrets rotate lazily, on the
 * first call after their time is up (the jar needs no timer); after two periods with no
 * call both are new.
 */
import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { constantTimeEqual, secureRandom } from '../crypto.js';
import type { RandomSource } from '../crypto.js';
import { COOKIE_ROTATE_MS, COOKIE_SIZE, LABEL_COOKIE } from './constants.js';

/** Where a packet came from (or goes to). `address` is an IPv4 or IPv6 literal, as node:dgram reports it. */
export interface PacketSource {
  readonly address: string;
  readonly port: number;
}

export interface CookieJarOptions {
  /** Clock in ms (monotonic). Default `performance.now`. */
  readonly now?: () => number;
  /** Where secrets come from. Default node:crypto. */
  readonly random?: RandomSource;
  /** Rotation period, ms. Default 60 000 (§D2); tests may shorten it. */
  readonly rotateMs?: number;
}

const SECRET_SIZE = 32;
const LABEL = Buffer.from(LABEL_COOKIE, 'ascii');

/**
 * The family byte and raw bytes of an IP literal: 4 and 4 bytes for IPv4 and IPv4-mapped
 * IPv6 (`::ffff:a.b.c.d`), 6 and 16 bytes for other IPv6 (a `%zone` suffix is ignored).
 * Null for anything else.
 */
export function addressBytes(address: string): { family: 4 | 6; bytes: Buffer } | null {
  const v4 = parseIPv4(address);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(address.replace(/%.*$/, ''));
  if (!v6) return null;
  // ::ffff:0:0/96 is IPv4 reached over an IPv6 socket: the same host as its IPv4 form.
  if (v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) {
    return { family: 4, bytes: Buffer.from(v6.subarray(12)) };
  }
  return { family: 6, bytes: v6 };
}

function parseIPv4(s: string): Buffer | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIPv6(s: string): Buffer | null {
  if (s.length === 0 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

/**
 * The cookie of `source` under `secret` (§D2's formula). Null for an address that is not
 * an IP literal or a port outside 0–65535 (such a source gets no cookie: drop it).
 */
export function computeCookie(secret: Buffer, source: PacketSource): Buffer | null {
  const addr = addressBytes(source.address);
  if (!addr || !Number.isInteger(source.port) || source.port < 0 || source.port > 0xffff) return null;
  const port = Buffer.allocUnsafe(2);
  port.writeUInt16BE(source.port);
  return createHmac('sha256', secret)
    .update(LABEL)
    .update(Buffer.of(addr.family))
    .update(addr.bytes)
    .update(port)
    .digest()
    .subarray(0, COOKIE_SIZE);
}

/** A server's cookie secrets: the current one and the previous one. */
export class CookieJar {
  readonly #now: () => number;
  readonly #random: RandomSource;
  readonly #rotateMs: number;
  /** Index of the current period: floor((now - start) / rotateMs). */
  #period = 0;
  readonly #start: number;
  #current: Buffer;
  #previous: Buffer | null = null;
  #destroyed = false;

  constructor(options: CookieJarOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? secureRandom;
    this.#rotateMs = options.rotateMs ?? COOKIE_ROTATE_MS;
    if (!(this.#rotateMs > 0)) throw new RangeError('rotateMs must be positive');
    this.#start = this.#now();
    this.#current = this.#random(SECRET_SIZE);
  }

  /** The cookie for `source` now (under the current secret); null for an unusable source. */
  cookie(source: PacketSource): Buffer | null {
    if (this.#destroyed) return null;
    this.#rotate();
    return computeCookie(this.#current, source);
  }

  /** Whether `cookie` is `source`'s under the current or the previous secret (constant time). */
  verify(source: PacketSource, cookie: Buffer | null): boolean {
    if (this.#destroyed || !cookie || cookie.length !== COOKIE_SIZE) return false;
    this.#rotate();
    const now = computeCookie(this.#current, source);
    if (!now) return false;
    // Both comparisons always run: how long a check takes says nothing about which secret matched.
    const a = constantTimeEqual(now, cookie);
    const before = this.#previous ? computeCookie(this.#previous, source) : null;
    const b = before ? constantTimeEqual(before, cookie) : false;
    return a || b;
  }

  /** Wipes the secrets; the jar then gives and verifies no cookie. */
  destroy(): void {
    this.#destroyed = true;
    this.#current.fill(0);
    this.#previous?.fill(0);
    this.#previous = null;
  }

  #rotate(): void {
    const period = Math.floor((this.#now() - this.#start) / this.#rotateMs);
    if (period <= this.#period) return;
    const old = this.#current;
    this.#current = this.#random(SECRET_SIZE);
    this.#previous?.fill(0);
    if (period === this.#period + 1) {
      this.#previous = old;
    } else {
      old.fill(0);
      this.#previous = null;
    }
    this.#period = period;
  }
}
