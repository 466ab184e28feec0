/**
 * Plaintext handshake frames: encoding and strict decoding. Layouts are in PROTOCOL.md
 * "Handshake messages". Every decoder checks bounds before reading and rejects trailing bytes.
 */
import { Buffer } from 'node:buffer';
import {
  FRAME_HEADER_SIZE,
  FrameType,
  KEY_ID_SIZE,
  MAGIC,
  MAX_TICKET_SIZE,
  RANDOM_SIZE,
  VERSION,
  X25519_KEY_SIZE,
} from './constants.js';
import { ErrorCode, HandshakeError } from './errors.js';

export interface ClientHello {
  readonly suiteIds: readonly [number, number, number];
  /** Bit 0: the client will authenticate with its own key. */
  readonly flags: number;
  readonly random: Buffer;
  readonly ephemeral: Buffer;
  readonly keyId: Buffer;
  readonly encryptedSecret: Buffer;
}

export interface ServerHello {
  readonly suiteIds: readonly [number, number, number];
  readonly random: Buffer;
  readonly ephemeral: Buffer;
}

/**
 * A ResumeHello (PROTOCOL.md §6a). `binderInput` is the frame up to, not including, the
 * binder (the header counts the whole body): what the binder's hash covers.
 */
export interface ResumeHello {
  readonly suiteIds: readonly [number, number, number];
  /** Bit 1 only: the client wants a new ticket. */
  readonly flags: number;
  readonly random: Buffer;
  readonly ephemeral: Buffer;
  readonly keyId: Buffer;
  readonly ticket: Buffer;
  readonly binder: Buffer;
  readonly binderInput: Buffer;
}

export const FLAG_CLIENT_AUTH = 0x01;
/** ClientHello / ResumeHello flag bit 1: the client wants a resumption ticket (§6a). */
export const FLAG_TICKETS = 0x02;
/** ClientHello flag bit 2: the session carries channels (§6b); only where the server serves them. */
export const FLAG_CHANNELS = 0x04;

/** Wraps a body in a frame header: type (u8) ‖ length (u24 BE) ‖ body. */
export function frame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  out[0] = type;
  out.writeUIntBE(body.length, 1, 3);
  body.copy(out, FRAME_HEADER_SIZE);
  return out;
}

function preamble(): Buffer {
  return Buffer.concat([MAGIC, Buffer.of(VERSION)]);
}

export function encodeKeyRequest(): Buffer {
  return frame(FrameType.KeyRequest, preamble());
}

/** The fields a ClientHello and a ResumeHello both begin with, preamble first (§2, §6a). */
function helloHead(h: Omit<ClientHello, 'encryptedSecret'>): Buffer[] {
  return [preamble(), Buffer.from(h.suiteIds), Buffer.of(h.flags), h.random, h.ephemeral, h.keyId];
}

/** `bytes` as a u16 length and the bytes. */
function withLength16(bytes: Buffer): Buffer[] {
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(bytes.length);
  return [len, bytes];
}

export function encodeKeyResponse(spki: Buffer): Buffer {
  return frame(FrameType.KeyResponse, Buffer.concat([preamble(), ...withLength16(spki)]));
}

export function encodeClientHello(h: ClientHello): Buffer {
  return frame(FrameType.ClientHello, Buffer.concat([...helloHead(h), ...withLength16(h.encryptedSecret)]));
}

export function encodeServerHello(h: ServerHello): Buffer {
  return frame(
    FrameType.ServerHello,
    Buffer.concat([preamble(), Buffer.from(h.suiteIds), h.random, h.ephemeral]),
  );
}

/**
 * A ResumeHello frame whose last `binderLength` bytes are `binder(frame up to them)`: the
 * header already counts the binder, as the binder's hash requires (§6a).
 */
export function encodeResumeHello(
  h: Omit<ResumeHello, 'binder' | 'binderInput'>,
  binderLength: number,
  binder: (binderInput: Buffer) => Buffer,
): Buffer {
  const out = frame(
    FrameType.ResumeHello,
    Buffer.concat([...helloHead(h), ...withLength16(h.ticket), Buffer.alloc(binderLength)]),
  );
  const at = out.length - binderLength;
  binder(out.subarray(0, at)).copy(out, at);
  return out;
}

/** ResumeRefused (§6a): the preamble alone. */
export function encodeResumeRefused(): Buffer {
  return frame(FrameType.ResumeRefused, preamble());
}

export function encodeAlertFrame(code: number): Buffer {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code);
  return frame(FrameType.Alert, body);
}

/** A bounds-checked reader over one frame body. */
class Cursor {
  #at = FRAME_HEADER_SIZE;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
  ) {}

  bytes(n: number): Buffer {
    if (this.#at + n > this.buf.length) throw malformed(this.what);
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0]!;
  }

  u16(): number {
    return this.bytes(2).readUInt16BE(0);
  }

  end(): void {
    if (this.#at !== this.buf.length) throw malformed(this.what);
  }
}

function malformed(what: string): HandshakeError {
  return new HandshakeError(ErrorCode.HANDSHAKE, `handshake: malformed ${what}`);
}

/** Checks magic and version; the first five body bytes of every hello and key message. */
function readPreamble(c: Cursor): void {
  const magic = c.bytes(MAGIC.length);
  if (!magic.equals(MAGIC)) {
    throw new HandshakeError(ErrorCode.UNSUPPORTED_VERSION, 'handshake: peer is not speaking secsess');
  }
  const version = c.u8();
  if (version !== VERSION) {
    throw new HandshakeError(
      ErrorCode.UNSUPPORTED_VERSION,
      `handshake: peer speaks protocol version ${version}, this implementation speaks ${VERSION}`,
    );
  }
}

export function decodeKeyRequest(f: Buffer): void {
  const c = new Cursor(f, 'key request');
  readPreamble(c);
  c.end();
}

export function decodeKeyResponse(f: Buffer): Buffer {
  const c = new Cursor(f, 'key response');
  readPreamble(c);
  const spki = c.bytes(c.u16());
  c.end();
  return spki;
}

/**
 * `allowed`: the flag bits this receiver accepts (§2): bits 0 and 1 always on a stream
 * server, bit 2 only where it serves channels (§6b); any other bit set is malformed.
 */
export function decodeClientHello(f: Buffer, allowed = FLAG_CLIENT_AUTH | FLAG_TICKETS): ClientHello {
  const c = new Cursor(f, 'client hello');
  readPreamble(c);
  const suiteIds = [c.u8(), c.u8(), c.u8()] as const;
  const flags = c.u8();
  if ((flags & ~allowed) !== 0) throw malformed('client hello');
  const random = c.bytes(RANDOM_SIZE);
  const ephemeral = c.bytes(X25519_KEY_SIZE);
  const keyId = c.bytes(KEY_ID_SIZE);
  const encryptedSecret = c.bytes(c.u16());
  c.end();
  return { suiteIds, flags, random, ephemeral, keyId, encryptedSecret };
}

export function decodeServerHello(f: Buffer): ServerHello {
  const c = new Cursor(f, 'server hello');
  readPreamble(c);
  const suiteIds = [c.u8(), c.u8(), c.u8()] as const;
  const random = c.bytes(RANDOM_SIZE);
  const ephemeral = c.bytes(X25519_KEY_SIZE);
  c.end();
  return { suiteIds, random, ephemeral };
}

/**
 * The strict reading of a ResumeHello (§6a): preamble, then the suite, whose hash length
 * the binder's needs (`hashLength` answers null for an unknown suite: SuiteMismatch, as
 * for a ClientHello), then the rest. The suite's acceptance is the caller's next check.
 */
export function decodeResumeHello(
  f: Buffer,
  hashLength: (ids: readonly [number, number, number]) => number | null,
): ResumeHello {
  const c = new Cursor(f, 'resume hello');
  readPreamble(c);
  const suiteIds = [c.u8(), c.u8(), c.u8()] as const;
  const hlen = hashLength(suiteIds);
  if (hlen === null) {
    throw new HandshakeError(
      ErrorCode.SUITE_MISMATCH,
      'handshake: client asked for an algorithm set this server does not accept',
    );
  }
  const flags = c.u8();
  if ((flags & ~FLAG_TICKETS) !== 0) throw malformed('resume hello');
  const random = c.bytes(RANDOM_SIZE);
  const ephemeral = c.bytes(X25519_KEY_SIZE);
  const keyId = c.bytes(KEY_ID_SIZE);
  const n = c.u16();
  if (n < 1 || n > MAX_TICKET_SIZE) throw malformed('resume hello');
  const ticket = c.bytes(n);
  const binderAt = f.length - hlen;
  const binder = c.bytes(hlen);
  c.end();
  return { suiteIds, flags, random, ephemeral, keyId, ticket, binder, binderInput: f.subarray(0, binderAt) };
}

export function decodeResumeRefused(f: Buffer): void {
  const c = new Cursor(f, 'resume refused');
  readPreamble(c);
  c.end();
}

export function decodeAlertFrame(f: Buffer): number {
  const c = new Cursor(f, 'alert');
  const code = c.u16();
  c.end();
  return code;
}
