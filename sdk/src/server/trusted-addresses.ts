/**
 * Which socket peers may speak the PROXY protocol to a server (`proxyProtocol.trusted`): IP
 * addresses and CIDR blocks, IPv4 and IPv6. Everything is compared in the 16-byte IPv6
 * form, IPv4 as IPv4-mapped (`::ffff:a.b.c.d`): an IPv4 entry also matches the mapped
 * address a dual-stack (`::`) listener reports for an IPv4 peer, and an IPv4 `/n` is the
 * mapped `/96+n`.
 */
import { parseIP, toIPv6Bytes } from '../common/ip-address.js';
import type { AddressBytes } from '../common/ip-address.js';

/** At most this many entries: the list is scanned for every connection. */
export const MAX_TRUSTED_ENTRIES = 1024;

interface Block {
  readonly bytes: AddressBytes;
  readonly prefix: number;
}

/** A list of trusted addresses and CIDR blocks. */
export class TrustedAddresses {
  readonly #blocks: readonly Block[];
  /** The entries as given. */
  readonly entries: readonly string[];

  /**
   * @param entries `"10.0.0.5"`, `"10.0.0.0/8"`, `"2001:db8::/32"`, `"::1"`… (no zone, no
   *   hostname, a prefix length without leading zeros, host bits may be set: `10.1.2.3/8` is `10.0.0.0/8`).
   * @param name What the list is called in errors.
   * @throws TypeError for a list that is not an array of such strings, or is empty;
   *   RangeError for more than {@link MAX_TRUSTED_ENTRIES} entries.
   */
  constructor(entries: readonly string[], name = 'trusted') {
    if (!Array.isArray(entries)) throw new TypeError(`${name} must be an array of addresses or CIDRs`);
    if (entries.length === 0) throw new TypeError(`${name} must list at least one address or CIDR`);
    if (entries.length > MAX_TRUSTED_ENTRIES) {
      throw new RangeError(`${name} must have at most ${MAX_TRUSTED_ENTRIES} entries, got ${entries.length}`);
    }
    this.#blocks = entries.map((entry: unknown, i) => {
      const block = typeof entry === 'string' ? parseBlock(entry) : null;
      if (!block) {
        throw new TypeError(`${name}[${i}] must be an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)`);
      }
      return block;
    });
    this.entries = [...entries];
  }

  /** Whether `address` (a socket's `remoteAddress`; a zone is ignored) is in the list. */
  has(address: string | undefined): boolean {
    if (address === undefined) return false;
    const zone = address.indexOf('%');
    const parsed = parseIP(zone < 0 ? address : address.slice(0, zone));
    if (!parsed) return false;
    const bytes = toIPv6Bytes(parsed);
    return this.#blocks.some((block) => inBlock(bytes, block));
  }
}

/** An entry as a block in the 16-byte form, or null if it is not one. */
function parseBlock(entry: string): Block | null {
  const slash = entry.indexOf('/');
  const text = slash < 0 ? entry : entry.slice(0, slash);
  const address = parseIP(text);
  if (!address) return null;
  const max = address.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const digits = entry.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(digits)) return null;
    prefix = Number(digits);
    if (prefix > max) return null;
  }
  return { bytes: toIPv6Bytes(address), prefix: prefix + (128 - max) };
}

function inBlock(bytes: AddressBytes, block: Block): boolean {
  const whole = block.prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== block.bytes[i]) return false;
  const bits = block.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (bytes[whole]! & mask) === (block.bytes[whole]! & mask);
}
