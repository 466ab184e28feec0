/**
 * Just enough DER to tell key structures apart before handing the bytes to node:crypto,
 * which does the real parsing. Nothing here decodes key material.
 */

/** Universal ASN.1 tags we look at. */
const enum Tag {
  INTEGER = 0x02,
  BIT_STRING = 0x03,
  OCTET_STRING = 0x04,
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
