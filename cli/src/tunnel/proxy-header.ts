/**
 * The PROXY protocol version 2 header (HAProxy's proxy-protocol.txt, section 2.2) that
 * `serve --forward --proxy-protocol` writes to the backend before any byte of the session,
 * so that the service learns the secsess client's address instead of secsess's own:
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version 2 (high nibble) | command PROXY 0x1 (low nibble)
 *    1 byte   family AF_INET 0x1 / AF_INET6 0x2 (high nibble) | STREAM 0x1 (low nibble)
 *    2 bytes  length of the address block, big-endian: 12 (IPv4) or 36 (IPv6)
 *   then      source address, destination address, source port, destination port,
 *             all in network byte order
 *
 * No TLVs are sent. Both addresses are written in one family: IPv4 when both are IPv4 (an
 * IPv4-mapped IPv6 address, ::ffff:a.b.c.d, counts as IPv4), else IPv6 (an IPv4 address
 * then written in its mapped form).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The 12-byte v2 signature. */
const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2, command PROXY. */
const VERSION_PROXY = 0x21;
/** AF_INET + STREAM (TCP over IPv4), AF_INET6 + STREAM (TCP over IPv6). */
const TCP4 = 0x11;
const TCP6 = 0x21;
const IPV4_BLOCK = 12;
const IPV6_BLOCK = 36;

/** One end of the proxied connection. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; a zone (`fe80::1%eth0`) dropped; anything else unchanged. */
function unmapped(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return mapped ? mapped[1]! : bare;
}

/** The 16 bytes of an IPv6 address (an IPv4 one in its mapped form). */
function ipv6Bytes(address: string): Buffer {
  const text = isIPv4(address) ? `::ffff:${address}` : address;
  const out = Buffer.alloc(16);
  // Validated by isIPv6: at most one `::`, an embedded IPv4 only in the last group.
  const [head = '', tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const words = (part: string): number[] => {
    const result: number[] = [];
    for (const group of part === '' ? [] : part.split(':')) {
      if (group.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
        result.push((a << 8) | b, (c << 8) | d);
      } else {
        result.push(parseInt(group, 16));
      }
    }
    return result;
  };
  const first = words(head);
  const last = tail === undefined ? [] : words(tail);
  const all = [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
  all.forEach((word, i) => out.writeUInt16BE(word, i * 2));
  return out;
}

/** The 4 bytes of an IPv4 address. */
function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split('.').map(Number));
}

/**
 * The PROXY v2 header for a TCP connection from `source` to `destination`.
 *
 * @throws TypeError if an address is not an IP literal
 */
export function proxyHeader(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const src = unmapped(source.address);
  const dst = unmapped(destination.address);
  for (const a of [src, dst]) {
    if (!isIPv4(a) && !isIPv6(a)) throw new TypeError(`not an IP address: ${a}`);
  }
  const v4 = isIPv4(src) && isIPv4(dst);
  const block = v4 ? IPV4_BLOCK : IPV6_BLOCK;
  const header = Buffer.alloc(SIGNATURE.length + 4 + block);
  SIGNATURE.copy(header, 0);
  let at = SIGNATURE.length;
  header[at++] = VERSION_PROXY;
  header[at++] = v4 ? TCP4 : TCP6;
  header.writeUInt16BE(block, at);
  at += 2;
  const bytes = v4 ? ipv4Bytes : ipv6Bytes;
  at += bytes(src).copy(header, at);
  at += bytes(dst).copy(header, at);
  header.writeUInt16BE(source.port, at);
  header.writeUInt16BE(destination.port, at + 2);
  return header;
}
