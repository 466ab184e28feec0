/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt), both ways, sans-IO: the parser a
 * server runs on connections from its load balancer (`proxyProtocol`), and the v2 writer
 * `secsess serve --proxy-protocol` puts before each backend connection. One module, so
 * every header we write is one we read (test/proxy-header.test.ts feeds one to the other).
 *
 * Version 1, one text line of at most 107 bytes with its CRLF:
 *
 *   PROXY TCP4 <src> <dst> <srcport> <dstport>\r\n   (TCP6: IPv6 addresses)
 *   PROXY UNKNOWN[ <anything printable>]\r\n          (the proxy does not know: use the socket's)
 *
 * Version 2, binary:
 *
 *   12 bytes  signature \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version 2 (high nibble) | command LOCAL 0x0 / PROXY 0x1 (low nibble)
 *    1 byte   family AF_UNSPEC 0 / AF_INET 1 / AF_INET6 2 / AF_UNIX 3 (high nibble) |
 *             protocol UNSPEC 0 / STREAM 1 / DGRAM 2 (low nibble)
 *    2 bytes  length of the rest, big-endian
 *   then      PROXY AF_INET + STREAM: src (4), dst (4), src port (2), dst port (2);
 *             AF_INET6 + STREAM: the same with 16-byte addresses; then TLVs
 *             (u8 type ‖ u16 length ‖ value), each whole inside the block, skipped
 *
 * A PROXY command for another valid family/protocol (UNSPEC 0x00, UDP 0x12/0x22, AF_UNIX
 * 0x31/0x32) is accepted as the specification's §2.2 says a receiver that does not support it
 * must: as UNSPEC, the socket's own addresses apply, the block (still at most
 * {@link PROXY_V2_MAX_BLOCK}) skipped. LOCAL (v2) and UNKNOWN (v1) are accepted and carry no
 * addresses either (a health check; the block of a LOCAL header, and whatever a v1 UNKNOWN
 * line holds before its CRLF, are ignored, as the specification says). Strict otherwise:
 * anything else is refused (ERR_PROXY_PROTOCOL): a family/protocol byte outside those, a
 * version or command other than these, a v1 TCP4/TCP6 line with a byte outside printable
 * ASCII, a double space, an address of the wrong family, a port with a leading zero or over
 * 65535. Bounds come
 * first: a v1 line is refused once 107 bytes hold no LF, a v2 header whose length field says
 * more than {@link PROXY_V2_MAX_BLOCK} before a byte of its block is kept; each byte is checked
 * against the signature as it arrives.
 */
import { ErrorCode, SessionError } from '../protocol/index.js';
import {
  formatIPv4,
  formatIPv6,
  isIPv4Mapped,
  parseIP,
  parseIPv4,
  parseIPv6,
  toIPv6Bytes,
} from '../common/ip-address.js';

/** Longest v1 header, CRLF included (the specification's bound). */
export const PROXY_V1_MAX_LENGTH = 107;
/** Largest v2 address + TLV block we accept (the length field allows 65535). */
export const PROXY_V2_MAX_BLOCK = 1024;
/** The fixed part of a v2 header: signature, version/command, family, length. */
const V2_FIXED = 16;
/** Longest v2 header we accept. */
export const PROXY_V2_MAX_LENGTH = V2_FIXED + PROXY_V2_MAX_BLOCK;

/** `PROXY ` (v1). */
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
/** The v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_LOCAL = 0x20;
const V2_PROXY = 0x21;
/** AF_INET + STREAM, AF_INET6 + STREAM. */
const TCP4 = 0x11;
const TCP6 = 0x21;
/** The family/protocol bytes §2.2 defines: UNSPEC, then STREAM and DGRAM over AF_INET, AF_INET6, AF_UNIX. */
const V2_FAMILIES: ReadonlySet<number> = new Set([0x00, TCP4, 0x12, TCP6, 0x22, 0x31, 0x32]);
const IPV4_BLOCK = 12;
const IPV6_BLOCK = 36;
const LF = 0x0a;

/** One end of a proxied TCP connection. */
export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** A parsed PROXY header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * The client and the address it connected to; null for a v2 LOCAL or a v1 UNKNOWN header
   * (the proxy's own connection, a health check: the socket's addresses apply).
   */
  readonly addresses: { readonly source: ProxyAddress; readonly destination: ProxyAddress } | null;
  /** Bytes the header took. */
  readonly length: number;
}

function refuse(reason: string): SessionError {
  return new SessionError(ErrorCode.PROXY_PROTOCOL, `PROXY header: ${reason}`);
}

/**
 * Whether `bytes` (the first bytes a connection sent) begin as a PROXY header does, v1 or v2,
 * as far as they go; false for none. What a server refuses from an untrusted peer. No
 * secsess frame can begin so: its first byte is a frame type (0x01–0x04, 0x15).
 */
export function looksLikeProxyHeader(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const signature = bytes[0] === V1_SIGNATURE[0] ? V1_SIGNATURE : V2_SIGNATURE;
  const n = Math.min(bytes.length, signature.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== signature[i]) return false;
  return true;
}

/**
 * Reads one PROXY header from a connection's first bytes, fed as they arrive. Holds at most
 * {@link PROXY_V2_MAX_LENGTH} bytes; the bytes after the header are the caller's (the stream).
 */
export class ProxyHeaderParser {
  /** What arrived of the header; v1's bound, grown once for a v2 block past it. */
  #buf = Buffer.alloc(PROXY_V1_MAX_LENGTH);
  #have = 0;
  /** 0 until the first byte said which. */
  #version: 0 | 1 | 2 = 0;
  /** v2: the whole header's length, once its fixed part arrived (else 0). */
  #need = 0;
  #header: ProxyHeader | null = null;

  /** The header, once `push()` found its end. */
  get header(): ProxyHeader | null {
    return this.#header;
  }

  /**
   * Takes the next bytes. Returns -1 if the header is not complete yet (every byte of
   * `chunk` was taken), else how many bytes of `chunk` ended it: `chunk.subarray(n)` is
   * the stream after the header.
   *
   * @throws SessionError ERR_PROXY_PROTOCOL as soon as the bytes cannot be a valid header.
   */
  push(chunk: Uint8Array): number {
    if (this.#header) throw new SessionError(ErrorCode.INVALID_STATE, 'PROXY header already read');
    let used = 0;
    while (used < chunk.length) {
      if (this.#version === 0) {
        const first = chunk[used];
        if (first === V1_SIGNATURE[0]) this.#version = 1;
        else if (first === V2_SIGNATURE[0]) this.#version = 2;
        else throw refuse('not a PROXY protocol signature');
      }
      if (this.#version === 1) return this.#pushV1(chunk, used);
      used = this.#pushV2(chunk, used);
      if (this.#header) return used;
    }
    return -1;
  }

  #pushV1(chunk: Uint8Array, from: number): number {
    const lf = chunk.indexOf(LF, from);
    const end = lf < 0 ? chunk.length : lf + 1;
    const start = this.#have;
    const have = start + end - from;
    // 107 bytes without their LF can only grow past the bound.
    if (have > PROXY_V1_MAX_LENGTH || (lf < 0 && have === PROXY_V1_MAX_LENGTH)) {
      throw refuse(`v1 line longer than ${PROXY_V1_MAX_LENGTH} bytes`);
    }
    this.#buf.set(chunk.subarray(from, end), start);
    this.#have = have;
    checkSignature(this.#buf, start, have, V1_SIGNATURE);
    if (lf < 0) return -1;
    this.#header = parseV1(this.#buf.toString('latin1', 0, this.#have));
    return end;
  }

  /** Takes what the v2 header still needs of `chunk` from `from`; returns where it stopped. */
  #pushV2(chunk: Uint8Array, from: number): number {
    const need = this.#need || V2_FIXED;
    const start = this.#have;
    const take = Math.min(need - start, chunk.length - from);
    this.#buf.set(chunk.subarray(from, from + take), start);
    this.#have = start + take;
    if (start < V2_SIGNATURE.length) checkSignature(this.#buf, start, this.#have, V2_SIGNATURE);
    if (start <= 12 && this.#have > 12) checkCommand(this.#buf[12]!);
    if (start <= 13 && this.#have > 13) checkFamily(this.#buf[12]!, this.#buf[13]!);
    if (this.#have === V2_FIXED && this.#need === 0) {
      const block = this.#buf.readUInt16BE(14);
      if (block > PROXY_V2_MAX_BLOCK)
        throw refuse(`v2 block of ${block} bytes (at most ${PROXY_V2_MAX_BLOCK})`);
      this.#need = V2_FIXED + block;
      if (this.#need > this.#buf.length) {
        const grown = Buffer.alloc(this.#need);
        this.#buf.copy(grown, 0, 0, V2_FIXED);
        this.#buf = grown;
      }
    }
    if (this.#need !== 0 && this.#have === this.#need)
      this.#header = parseV2(this.#buf.subarray(0, this.#need));
    return from + take;
  }
}

/** Checks the bytes from `start` to `end` against the signature where it reaches. */
function checkSignature(buf: Buffer, start: number, end: number, signature: Buffer): void {
  for (let i = start; i < Math.min(end, signature.length); i++) {
    if (buf[i] !== signature[i]) throw refuse('not a PROXY protocol signature');
  }
}

function checkCommand(byte: number): void {
  if (byte >> 4 !== 2) throw refuse(`v2 version ${byte >> 4} (only 2)`);
  if (byte !== V2_LOCAL && byte !== V2_PROXY) throw refuse(`v2 command ${byte & 0x0f} (LOCAL 0 or PROXY 1)`);
}

function checkFamily(command: number, family: number): void {
  // LOCAL: any family and protocol the version defines (its addresses are ignored anyway).
  if (command === V2_PROXY ? !V2_FAMILIES.has(family) : family >> 4 > 3 || (family & 0x0f) > 2) {
    throw refuse(
      `v2 family/protocol 0x${family.toString(16).padStart(2, '0')} (not one the protocol defines)`,
    );
  }
}

function parseV2(header: Buffer): ProxyHeader {
  const length = header.length;
  // LOCAL, or PROXY for a family other than TCP (§2.2: fall back to UNSPEC): the socket's addresses.
  if (header[12] === V2_LOCAL || (header[13] !== TCP4 && header[13] !== TCP6))
    return { version: 2, addresses: null, length };
  const v4 = header[13] === TCP4;
  const size = v4 ? IPV4_BLOCK : IPV6_BLOCK;
  if (length - V2_FIXED < size)
    throw refuse(`v2 block of ${length - V2_FIXED} bytes, short of its ${size}-byte addresses`);
  // TLVs: skipped, but each must lie whole inside the block.
  for (let at = V2_FIXED + size; at < length;) {
    if (at + 3 > length || at + 3 + header.readUInt16BE(at + 1) > length)
      throw refuse('v2 TLV runs past the block');
    at += 3 + header.readUInt16BE(at + 1);
  }
  const n = v4 ? 4 : 16;
  const format = v4 ? formatIPv4 : formatIPv6;
  const family = v4 ? 'IPv4' : 'IPv6';
  const ports = V2_FIXED + 2 * n;
  return {
    version: 2,
    addresses: {
      source: { address: format(header, V2_FIXED), port: header.readUInt16BE(ports), family },
      destination: { address: format(header, V2_FIXED + n), port: header.readUInt16BE(ports + 2), family },
    },
    length,
  };
}

function parseV1(line: string): ProxyHeader {
  const length = line.length;
  if (!line.endsWith('\r\n')) throw refuse('v1 line does not end with CRLF');
  const text = line.slice(0, -2);
  // UNKNOWN: the receiver ignores whatever comes before the CRLF (the specification's words).
  if (text === 'PROXY UNKNOWN' || text.startsWith('PROXY UNKNOWN '))
    return { version: 1, addresses: null, length };
  if (!/^[\x20-\x7e]*$/.test(text)) throw refuse('v1 line has a byte outside printable ASCII');
  const parts = text.split(' ');
  const [, protocol, src, dst, srcPort, dstPort] = parts;
  const v4 = protocol === 'TCP4';
  if (parts.length !== 6 || (!v4 && protocol !== 'TCP6')) throw refuse('v1 line malformed');
  const address = (a: string): string | null => {
    const bytes = v4 ? parseIPv4(a) : parseIPv6(a);
    return bytes === null ? null : v4 ? formatIPv4(bytes) : formatIPv6(bytes);
  };
  const source = address(src!);
  const destination = address(dst!);
  if (source === null || destination === null) throw refuse(`v1 address is not ${v4 ? 'IPv4' : 'IPv6'}`);
  const family = v4 ? 'IPv4' : 'IPv6';
  return {
    version: 1,
    addresses: {
      source: { address: source, port: parsePort(srcPort!), family },
      destination: { address: destination, port: parsePort(dstPort!), family },
    },
    length,
  };
}

function parsePort(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) throw refuse('v1 port malformed');
  return Number(text);
}

/** One end of a connection, for {@link encodeProxyHeader}. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

/**
 * The PROXY v2 header (command PROXY, STREAM, no TLVs) for a TCP connection from `source`
 * to `destination`. Both addresses are written in one family: IPv4 when both are IPv4 (an
 * IPv4-mapped IPv6 address, `::ffff:a.b.c.d`, counts as IPv4), else IPv6 (an IPv4 address
 * then in its mapped form). A zone (`fe80::1%eth0`) is dropped.
 *
 * @throws TypeError if an address is not an IP literal; RangeError for a port outside 0–65535.
 */
export function encodeProxyHeader(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const [src, dst] = [source, destination].map(({ address, port }) => {
    const bytes = parseIP(address.replace(/%.*$/, ''));
    if (!bytes) throw new TypeError(`not an IP address: ${address}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new RangeError(`port must be from 0 to 65535, got ${port}`);
    return bytes.length === 16 && isIPv4Mapped(bytes) ? bytes.subarray(12) : bytes;
  }) as [Uint8Array, Uint8Array];
  const v4 = src.length === 4 && dst.length === 4;
  const block = v4 ? IPV4_BLOCK : IPV6_BLOCK;
  const header = Buffer.alloc(V2_FIXED + block);
  V2_SIGNATURE.copy(header, 0);
  header[12] = V2_PROXY;
  header[13] = v4 ? TCP4 : TCP6;
  header.writeUInt16BE(block, 14);
  const n = v4 ? 4 : 16;
  header.set(v4 ? src : toIPv6Bytes(src), V2_FIXED);
  header.set(v4 ? dst : toIPv6Bytes(dst), V2_FIXED + n);
  header.writeUInt16BE(source.port, V2_FIXED + 2 * n);
  header.writeUInt16BE(destination.port, V2_FIXED + 2 * n + 2);
  return header;
}
