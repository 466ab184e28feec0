/**
 * Just enough DER to tell key structures apart before handing the bytes to node:crypto,
 * which does the real parsing, and just enough to write the one structure we build
 * ourselves. Nothing here decodes key material.
 */

/** Universal ASN.1 tags we look at or write. */
const enum Tag {
  INTEGER = 0x02,
  BIT_STRING = 0x03,
  OCTET_STRING = 0x04,
  OBJECT_IDENTIFIER = 0x06,
  SEQUENCE = 0x30,
}

/** The DER key structures node:crypto can import. */
export type DerKind = 'pkcs1-private' | 'pkcs1-public' | 'pkcs8' | 'pkcs8-encrypted' | 'spki';

interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
}

/** Reads one TLV at `offset`, or `undefined` if the header or content runs past `limit`. */
function readTlv(data: Uint8Array, offset: number, limit: number): Tlv | undefined {
  if (offset + 2 > limit) return undefined;
  const tag = data[offset] as number;
  let length = data[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    // Long form: the low 7 bits count the length octets. Keys never need more than 4.
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || start + octets > limit) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + (data[start + i] as number);
    start += octets;
  }
  const end = start + length;
  if (end > limit) return undefined;
  return { tag, start, end };
}

/** The tags of the direct children of the SEQUENCE that spans `tlv`, or `undefined` if malformed. */
function childTags(data: Uint8Array, tlv: Tlv): number[] | undefined {
  const tags: number[] = [];
  let offset = tlv.start;
  while (offset < tlv.end) {
    const child = readTlv(data, offset, tlv.end);
    if (child === undefined) return undefined;
    tags.push(child.tag);
    offset = child.end;
  }
  return tags;
}

/**
 * Classifies DER bytes as one of the key structures, from the shape of the outer SEQUENCE:
 *
 * - RSAPrivateKey (PKCS#1): INTEGER version, then eight INTEGERs
 * - RSAPublicKey (PKCS#1): INTEGER n, INTEGER e
 * - PrivateKeyInfo (PKCS#8): INTEGER version, SEQUENCE algorithm, OCTET STRING key, …
 * - EncryptedPrivateKeyInfo (PKCS#8): SEQUENCE algorithm, OCTET STRING ciphertext
 * - SubjectPublicKeyInfo: SEQUENCE algorithm, BIT STRING key
 *
 * Returns `undefined` when the bytes are not one well-formed DER SEQUENCE of those shapes
 * (including truncated data and trailing garbage).
 */
export function classifyDer(data: Uint8Array): DerKind | undefined {
  const outer = readTlv(data, 0, data.length);
  if (outer === undefined || outer.tag !== Tag.SEQUENCE || outer.end !== data.length) return undefined;
  const tags = childTags(data, outer);
  if (tags === undefined || tags.length < 2) return undefined;
  const [first, second] = tags;
  if (first === Tag.INTEGER && second === Tag.INTEGER) {
    if (tags.length === 2) return 'pkcs1-public';
    if (tags.length >= 9 && tags.every((tag) => tag === Tag.INTEGER)) return 'pkcs1-private';
    return undefined;
  }
  if (first === Tag.INTEGER && second === Tag.SEQUENCE && tags[2] === Tag.OCTET_STRING) return 'pkcs8';
  if (first === Tag.SEQUENCE && second === Tag.OCTET_STRING && tags.length === 2) return 'pkcs8-encrypted';
  if (first === Tag.SEQUENCE && second === Tag.BIT_STRING && tags.length === 2) return 'spki';
  return undefined;
}

/*
 * DER encoding, for the one structure we write ourselves: the EncryptedPrivateKeyInfo of
 * an scrypt-protected PKCS#8 key (pkcs8-scrypt.ts).
 */

/** A DER length: short form below 128, else long form with the fewest octets. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** One TLV with the given tag and content. */
export function derTlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(tag), derLength(content.length), content]);
}

/** A SEQUENCE of already-encoded elements. */
export function derSequence(...elements: Uint8Array[]): Buffer {
  return derTlv(Tag.SEQUENCE, Buffer.concat(elements));
}

/** An OCTET STRING. */
export function derOctetString(content: Uint8Array): Buffer {
  return derTlv(Tag.OCTET_STRING, content);
}

/** A non-negative INTEGER (a safe integer): minimal big-endian two's complement. */
export function derUnsignedInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError('DER INTEGER must be a non-negative safe integer');
  const octets: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  if (octets.length === 0 || ((octets[0] as number) & 0x80) !== 0) octets.unshift(0);
  return derTlv(Tag.INTEGER, Buffer.from(octets));
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function derObjectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = arcs;
  const octets: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc % 128];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) {
      base128.unshift(0x80 | (high % 128));
    }
    octets.push(...base128);
  }
  return derTlv(Tag.OBJECT_IDENTIFIER, Buffer.from(octets));
}

/** A PEM block: `-----BEGIN label-----`, base64 at 64 columns, `-----END label-----`, newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
