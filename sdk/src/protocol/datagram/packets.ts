/**
 * The handshake packets of secsess datagrams (PROTOCOL.md §D1): strict encoders and
 * decoders. A decoder returns null for a packet that must be **dropped** (wrong type,
 * wrong size, a frame that does not exactly fill its place, non-zero padding): no state
 * changes and nothing is answered. Decoders check sizes before every read and return
 * views into the packet (copy what you keep past the packet's life).
 *
 * The Part I frames inside (KeyRequest, KeyResponse, ClientHello, ServerHello) are
 * returned whole, header included, exactly as the transcript hashes them; their bodies
 * are parsed by handshake-messages.ts (preamble, structure), with Part I's errors.
 */
import { Buffer } from 'node:buffer';
import { FRAME_HEADER_SIZE, FrameType } from '../constants.js';
import {
  ALERT_PACKET_SIZE,
  CONN_ID_SIZE,
  COOKIE_PACKET_SIZE,
  COOKIE_SIZE,
  KEY_REQUEST_PACKET_SIZE,
  MAX_HELLO_PACKET_SIZE,
  MAX_UDP_PAYLOAD,
  PacketType,
  RECORD_HEADER_SIZE,
  TOKEN_SIZE,
} from './constants.js';

/** KeyRequest (0x41) or Hello (0x43): what a client sends before it has keys. */
export interface ClientPacket {
  readonly token: Buffer;
  /** The 16-byte cookie, or null (cookie_len 0). */
  readonly cookie: Buffer | null;
  /** The Part I frame inside (KeyRequest or ClientHello), header included. */
  readonly frame: Buffer;
}

export interface KeyResponsePacket {
  readonly token: Buffer;
  /** The Part I KeyResponse frame, header included. */
  readonly frame: Buffer;
}

export interface ServerHelloPacket {
  readonly token: Buffer;
  readonly connectionId: Buffer;
  /** The Part I ServerHello frame, header included. */
  readonly frame: Buffer;
  /** The Record packet behind it (the ServerFinished), from its type byte. */
  readonly record: Buffer;
}

export interface CookiePacket {
  readonly token: Buffer;
  readonly cookie: Buffer;
}

export interface AlertPacket {
  readonly token: Buffer;
  /** The alert code (PROTOCOL.md §8). */
  readonly code: number;
}

/** The packet's type if it is one of §D1's, else null (drop). */
export function packetType(packet: Buffer): PacketType | null {
  if (packet.length === 0 || packet.length > MAX_UDP_PAYLOAD) return null;
  const t = packet[0]!;
  return t >= PacketType.KeyRequest && t <= PacketType.Record ? (t as PacketType) : null;
}

function checkToken(token: Buffer): void {
  if (token.length !== TOKEN_SIZE) throw new RangeError(`token must be ${TOKEN_SIZE} bytes`);
}

function checkCookie(cookie: Buffer | null): void {
  if (cookie !== null && cookie.length !== COOKIE_SIZE)
    throw new RangeError(`cookie must be ${COOKIE_SIZE} bytes`);
}

/** Length of the whole frame starting at `at` (header included), or -1 if it runs past the end. */
function frameLength(packet: Buffer, at: number, type: number): number {
  if (packet.length < at + FRAME_HEADER_SIZE || packet[at] !== type) return -1;
  const length = FRAME_HEADER_SIZE + packet.readUIntBE(at + 1, 3);
  return at + length <= packet.length ? length : -1;
}

/** `token ‖ u8 cookie_len ‖ cookie ‖ frame`, the shared head of KeyRequest and Hello. */
function encodeClientPacket(
  type: PacketType,
  token: Buffer,
  cookie: Buffer | null,
  frame: Buffer,
  size: number,
): Buffer {
  checkToken(token);
  checkCookie(cookie);
  const cookieLength = cookie ? COOKIE_SIZE : 0;
  // Zero-filled: the KeyRequest's padding.
  const out = Buffer.alloc(size);
  out[0] = type;
  token.copy(out, 1);
  out[1 + TOKEN_SIZE] = cookieLength;
  cookie?.copy(out, 2 + TOKEN_SIZE);
  frame.copy(out, 2 + TOKEN_SIZE + cookieLength);
  return out;
}

function decodeClientPacket(
  packet: Buffer,
  type: PacketType,
  frameType: number,
): { head: ClientPacket; end: number } | null {
  if (packet.length < 2 + TOKEN_SIZE || packet[0] !== type) return null;
  const cookieLength = packet[1 + TOKEN_SIZE]!;
  if (cookieLength !== 0 && cookieLength !== COOKIE_SIZE) return null;
  const at = 2 + TOKEN_SIZE + cookieLength;
  const length = frameLength(packet, at, frameType);
  if (length < 0) return null;
  return {
    head: {
      token: packet.subarray(1, 1 + TOKEN_SIZE),
      cookie: cookieLength ? packet.subarray(2 + TOKEN_SIZE, at) : null,
      frame: packet.subarray(at, at + length),
    },
    end: at + length,
  };
}

/** KeyRequest packet: exactly 1200 bytes, zero padding after the frame. */
export function encodeKeyRequestPacket(
  token: Buffer,
  cookie: Buffer | null,
  keyRequestFrame: Buffer,
): Buffer {
  return encodeClientPacket(PacketType.KeyRequest, token, cookie, keyRequestFrame, KEY_REQUEST_PACKET_SIZE);
}

export function decodeKeyRequestPacket(packet: Buffer): ClientPacket | null {
  if (packet.length !== KEY_REQUEST_PACKET_SIZE) return null;
  const d = decodeClientPacket(packet, PacketType.KeyRequest, FrameType.KeyRequest);
  if (!d) return null;
  for (let i = d.end; i < packet.length; i++) if (packet[i] !== 0) return null;
  return d.head;
}

/** Hello packet: at most 1232 bytes, nothing after the ClientHello frame. */
export function encodeHelloPacket(token: Buffer, cookie: Buffer | null, clientHelloFrame: Buffer): Buffer {
  const size = 2 + TOKEN_SIZE + (cookie ? COOKIE_SIZE : 0) + clientHelloFrame.length;
  if (size > MAX_HELLO_PACKET_SIZE)
    throw new RangeError(`a Hello packet is at most ${MAX_HELLO_PACKET_SIZE} bytes`);
  return encodeClientPacket(PacketType.Hello, token, cookie, clientHelloFrame, size);
}

export function decodeHelloPacket(packet: Buffer): ClientPacket | null {
  if (packet.length > MAX_HELLO_PACKET_SIZE) return null;
  const d = decodeClientPacket(packet, PacketType.Hello, FrameType.ClientHello);
  return d && d.end === packet.length ? d.head : null;
}

export function encodeKeyResponsePacket(token: Buffer, keyResponseFrame: Buffer): Buffer {
  checkToken(token);
  return Buffer.concat([Buffer.of(PacketType.KeyResponse), token, keyResponseFrame]);
}

export function decodeKeyResponsePacket(packet: Buffer): KeyResponsePacket | null {
  if (packet[0] !== PacketType.KeyResponse) return null;
  const at = 1 + TOKEN_SIZE;
  const length = frameLength(packet, at, FrameType.KeyResponse);
  if (length < 0 || at + length !== packet.length) return null;
  return { token: packet.subarray(1, at), frame: packet.subarray(at) };
}

/** Size of a ServerHello packet whose ServerFinished record is `recordSize` bytes. */
export function serverHelloPacketSize(serverHelloFrameSize: number, recordSize: number): number {
  return 1 + TOKEN_SIZE + CONN_ID_SIZE + serverHelloFrameSize + recordSize;
}

export function encodeServerHelloPacket(
  token: Buffer,
  connectionId: Buffer,
  serverHelloFrame: Buffer,
  record: Buffer,
): Buffer {
  checkToken(token);
  if (connectionId.length !== CONN_ID_SIZE) throw new RangeError(`conn_id must be ${CONN_ID_SIZE} bytes`);
  return Buffer.concat([Buffer.of(PacketType.ServerHello), token, connectionId, serverHelloFrame, record]);
}

/**
 * A ServerHello packet; the record behind the frame must be a Record packet header-long at
 * least and name the same conn_id (its body is judged when it is opened).
 */
export function decodeServerHelloPacket(packet: Buffer): ServerHelloPacket | null {
  if (packet[0] !== PacketType.ServerHello) return null;
  const at = 1 + TOKEN_SIZE + CONN_ID_SIZE;
  const length = frameLength(packet, at, FrameType.ServerHello);
  if (length < 0) return null;
  const record = packet.subarray(at + length);
  const connectionId = packet.subarray(1 + TOKEN_SIZE, at);
  if (record.length < RECORD_HEADER_SIZE || record[0] !== PacketType.Record) return null;
  if (!record.subarray(1, 1 + CONN_ID_SIZE).equals(connectionId)) return null;
  return {
    token: packet.subarray(1, 1 + TOKEN_SIZE),
    connectionId,
    frame: packet.subarray(at, at + length),
    record,
  };
}

export function encodeCookiePacket(token: Buffer, cookie: Buffer): Buffer {
  checkToken(token);
  checkCookie(cookie);
  return Buffer.concat([Buffer.of(PacketType.Cookie), token, cookie]);
}

export function decodeCookiePacket(packet: Buffer): CookiePacket | null {
  if (packet.length !== COOKIE_PACKET_SIZE || packet[0] !== PacketType.Cookie) return null;
  return { token: packet.subarray(1, 1 + TOKEN_SIZE), cookie: packet.subarray(1 + TOKEN_SIZE) };
}

export function encodeAlertPacket(token: Buffer, code: number): Buffer {
  checkToken(token);
  const out = Buffer.allocUnsafe(ALERT_PACKET_SIZE);
  out[0] = PacketType.Alert;
  token.copy(out, 1);
  out.writeUInt16BE(code, 1 + TOKEN_SIZE);
  return out;
}

export function decodeAlertPacket(packet: Buffer): AlertPacket | null {
  if (packet.length !== ALERT_PACKET_SIZE || packet[0] !== PacketType.Alert) return null;
  return { token: packet.subarray(1, 1 + TOKEN_SIZE), code: packet.readUInt16BE(1 + TOKEN_SIZE) };
}

/** The header fields of a Record packet, or null if it is shorter than a header (no crypto). */
export function recordHeader(packet: Buffer): { connectionId: Buffer; epoch: number; seq: number } | null {
  if (packet.length < RECORD_HEADER_SIZE || packet[0] !== PacketType.Record) return null;
  return {
    connectionId: packet.subarray(1, 1 + CONN_ID_SIZE),
    epoch: packet.readUInt32BE(1 + CONN_ID_SIZE),
    seq: packet.readUIntBE(5 + CONN_ID_SIZE, 6),
  };
}
