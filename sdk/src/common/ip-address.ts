/**
 * IP address literals, without `node:net`: strict text → bytes (what a PROXY v1 header and a
 * trusted-address list hold) and bytes → the text Node's sockets report (what a PROXY v2
 * header holds), so an address from a header and one from a socket compare equal as strings.
 *
 * Strict means: IPv4 is four decimal numbers 0–255 without leading zeros (`010.0.0.1` is
 * ambiguous — octal to inet_aton — and refused); IPv6 is RFC 4291 text (1–4 hex digits a
 * group, at most one `::`, a dotted IPv4 only as the last 32 bits), no zone (`%eth0`).
 */

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type AddressBytes = Uint8Array;

/** The 4 bytes of a dotted-quad IPv4 address, or null. */
export function parseIPv4(text: string): AddressBytes | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/** The 16 bytes of an IPv6 address, or null. */
export function parseIPv6(text: string): AddressBytes | null {
  if (text.length > 45 || text.length < 2) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const words: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (!v4) return null;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        words.push(parseInt(item, 16));
      } else {
        return null;
      }
    }
    return words;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  // A dotted IPv4 ends the address: with '::' it may only be in the tail.
  if (halves.length === 2 && halves[0]!.includes('.')) return null;
  const given = head.length + tail.length;
  if (halves.length === 2 ? given > 7 : given !== 8) return null;
  const words = [...head, ...new Array<number>(8 - given).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((word, i) => {
    out[2 * i] = word >> 8;
    out[2 * i + 1] = word & 0xff;
  });
  return out;
}

/** The bytes of an IPv4 or IPv6 literal (4 or 16), or null. */
export function parseIP(text: string): AddressBytes | null {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

/** `a.b.c.d` of 4 bytes at `at`. */
export function formatIPv4(bytes: Uint8Array, at = 0): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/**
 * The text of 16 bytes at `at`, as libuv's `inet_ntop` writes it (and so as a socket's
 * `remoteAddress` reads): lowercase, no leading zeros, the first longest run of two or
 * more zero groups as `::` (RFC 5952), and the embedded-IPv4 forms `::ffff:a.b.c.d`
 * (IPv4-mapped) and `::a.b.c.d` (IPv4-compatible, first 96 bits zero, not `::` or `::1`).
 */
export function formatIPv6(bytes: Uint8Array, at = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  let best = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) best = -1;
  if (best === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
    return `::${bestLength === 5 ? 'ffff:' : ''}${formatIPv4(bytes, at + 12)}`;
  }
  const hex = (from: number, to: number): string =>
    words
      .slice(from, to)
      .map((w) => w.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}

/** The 16-byte form of an address: IPv6 as is, IPv4 as `::ffff:a.b.c.d` (IPv4-mapped). */
export function toIPv6Bytes(address: AddressBytes): AddressBytes {
  if (address.length === 16) return address;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(address, 12);
  return out;
}

/** Whether 16 bytes are an IPv4-mapped address (`::ffff:a.b.c.d`). */
export function isIPv4Mapped(bytes: AddressBytes): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
