/**
 * The server's first look at handshake packets (PROTOCOL.md §D2, §D3), stateless and
 * without RSA. One gate per server. How a transport drives it, per UDP packet whose first
 * byte is a handshake type (Record packets go by conn_id to a handshake or a session):
 *
 *   const s = gate.screen(packet, source);
 *   'drop'   send nothing (garbage, a client-bound type, a Hello too small to answer, …)
 *   'reply'  send s.packet to source: a Cookie (cookie absent or stale: no state, 33 bytes),
 *            a KeyResponse (KeyRequest with a valid cookie), or an Alert (the KeyRequest
 *            or ClientHello was refused: s.error says why, for the server's log)
 *   'hello'  a Hello with a valid cookie whose ClientHello passed preamble, structure,
 *            suite and key_id (§2 "Parsing" steps 1–4). Then, in this order:
 *       1. a handshake for s.hello.id (source and token) exists → send what
 *          `existing.repeatHello(s.hello)` returns, if anything; stop (no rate, no RSA)
 *       2. rate limit per source (HandshakeRate), then admission (maxHandshakes,
 *          maxSessions); refused → send gate.refuse(s.hello) (Alert ServerBusy); stop
 *       3. const a = gate.acceptHello(s.hello, now): 'refuse' → send a.packet; 'handshake'
 *          → keep a.handshake under s.hello.id and under a.handshake.connectionId, and run
 *          its RSA step (server-handshake.ts). Keeping the id until the handshake's
 *          deadline, also after accept(), makes late Hello copies find it (repeatHello
 *          then answers null) instead of starting a second handshake.
 *
 * Every answer goes only to the packet's source, is no larger than the packet it answers
 * (checked here: a Hello too small for its ServerHello is dropped before any RSA), and
 * only a source whose cookie verified gets anything but a Cookie.
 */
import { Buffer } from 'node:buffer';
import { PrivateKey, PublicKey } from '@secsess/keys';
import { ALERT_FOR_CODE } from '../alerts.js';
import { AlertCode, RANDOM_SIZE } from '../constants.js';
import { secureRandom } from '../crypto.js';
import type { RandomSource } from '../crypto.js';
import { x25519Key, x25519Shared } from '../asymmetric.js';
import { ErrorCode, HandshakeError, SessionError } from '../errors.js';
import {
  FLAG_TICKETS,
  decodeClientHello,
  decodeKeyRequest,
  encodeKeyResponse,
} from '../handshake-messages.js';
import type { ClientHello } from '../handshake-messages.js';
import type { KeyLog } from '../key-log.js';
import { ALL_SUITES, acceptedSuite } from '../suite.js';
import type { Suite } from '../suite.js';
import { CONN_ID_SIZE, PacketType } from './constants.js';
import { CookieJar, addressBytes } from './cookie.js';
import type { PacketSource } from './cookie.js';
import type { HandshakeContextOptions, HandshakeTestInputs } from './handshake-types.js';
import {
  decodeHelloPacket,
  decodeKeyRequestPacket,
  encodeAlertPacket,
  encodeCookiePacket,
  encodeKeyResponsePacket,
  serverHelloPacketSize,
} from './packets.js';
import { recordPacketSize } from './record-codec.js';
import { DatagramServerHandshake } from './server-handshake.js';

export interface DatagramServerHandshakeOptions extends HandshakeTestInputs {
  /**
   * The server's keys; a client names one by fingerprint; the first is sent in KeyResponse.
   * A `PublicKey` stands for a private key held elsewhere: its decryption must go through
   * `decryptRequest` / `completeDecrypt` (never `decryptLocally`).
   */
  readonly keys: readonly (PrivateKey | PublicKey)[];
  /** Suites accepted. Default: every supported suite. */
  readonly suites?: readonly Suite[];
  /** The server's cookie secrets (the transport may share the jar, e.g. to count). */
  readonly cookies: CookieJar;
  /**
   * Whether a client key may authenticate at all (authorized_keys). Asked before its
   * signature is verified (§6 step 3). Default: every key.
   */
  readonly clientKeyAllowed?: (key: PublicKey) => boolean;
  /** ms a handshake may wait for its ClientFinished after it was accepted. Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Passed to the record contexts of each session (replay mode, window, rekey, clock). */
  readonly context?: HandshakeContextOptions;
  /** Whether a conn_id is taken (by a session or a handshake): new ones are drawn until free. */
  readonly connectionIdInUse?: (id: Buffer) => boolean;
}

/** A Hello that passed the gate's checks: cookie, preamble, structure, suite, key_id, size. */
export interface ScreenedHello {
  /** Names (source, token): the key of the transport's table of handshakes in progress. */
  readonly id: string;
  readonly source: PacketSource;
  readonly token: Buffer;
  readonly suite: Suite;
  /** Index into `keys` of the key the client named. */
  readonly keyIndex: number;
  /** The Hello packet's size (what bounds the answer). */
  readonly packetSize: number;
  /** @internal The ClientHello frame (a copy) and its fields. */
  readonly frame: Buffer;
  /** @internal */
  readonly hello: ClientHello;
}

export type Screened =
  | { readonly kind: 'drop' }
  | {
      readonly kind: 'reply';
      readonly packet: Buffer;
      readonly what: 'cookie' | 'keyResponse' | 'alert';
      /** For 'alert': the refusal (ERR_UNSUPPORTED_VERSION, ERR_SUITE_MISMATCH, …). */
      readonly error?: HandshakeError;
    }
  | { readonly kind: 'hello'; readonly hello: ScreenedHello };

export type Accepted =
  | { readonly kind: 'handshake'; readonly handshake: DatagramServerHandshake }
  /** The client's X25519 share is unusable: send `packet` (Alert HandshakeFailed). */
  | { readonly kind: 'refuse'; readonly packet: Buffer; readonly error: HandshakeError };

const DROP: Screened = Object.freeze({ kind: 'drop' });
/** A ServerHello frame: 4-byte header, preamble (5), suite (3), random (32), X25519 (32). */
const SERVER_HELLO_FRAME_SIZE = 4 + 5 + 3 + RANDOM_SIZE + 32;
/** Tries at drawing a conn_id not in use (8 random bytes: a collision is already rare). */
const CONN_ID_TRIES = 16;

export const DEFAULT_SERVER_HANDSHAKE_TIMEOUT = 10_000;

/** The size of the ServerHello packet answering a Hello of `suite` (§D3 "Amplification bound"). */
export function serverHelloSize(suite: Suite): number {
  return serverHelloPacketSize(SERVER_HELLO_FRAME_SIZE, recordPacketSize(suite, suite.hashLength));
}

export class DatagramHandshakeGate {
  readonly #options: DatagramServerHandshakeOptions;
  readonly #keys: readonly (PrivateKey | PublicKey)[];
  readonly #publicKeys: readonly PublicKey[];
  readonly #fingerprints: readonly Buffer[];
  readonly #suites: readonly Suite[];
  readonly #cookies: CookieJar;
  readonly #random: RandomSource;
  readonly #timeout: number;
  /** The KeyResponse frame: the same for every client. */
  readonly #keyResponse: Buffer;

  /** @throws TypeError for missing or wrong keys or cookies. */
  constructor(options: DatagramServerHandshakeOptions) {
    if (!options || !Array.isArray(options.keys) || options.keys.length === 0) {
      throw new TypeError('keys must be a non-empty array of PrivateKey or PublicKey');
    }
    this.#publicKeys = options.keys.map((k, i) => {
      if (k instanceof PrivateKey) return k.publicKey;
      if (k instanceof PublicKey) return k;
      throw new TypeError(`keys[${i}] must be a PrivateKey or a PublicKey`);
    });
    if (!(options.cookies instanceof CookieJar)) throw new TypeError('cookies must be a CookieJar');
    const timeout = options.handshakeTimeout ?? DEFAULT_SERVER_HANDSHAKE_TIMEOUT;
    if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) {
      throw new RangeError('handshakeTimeout must be a positive number of ms');
    }
    this.#options = options;
    this.#keys = options.keys;
    this.#fingerprints = this.#publicKeys.map((k) => k.fingerprintBytes());
    this.#suites = options.suites ?? ALL_SUITES;
    this.#cookies = options.cookies;
    this.#random = options.random ?? secureRandom;
    this.#timeout = timeout;
    this.#keyResponse = encodeKeyResponse(this.#publicKeys[0]!.toSpkiDer());
  }

  /** The first look at a handshake packet from `source`: stateless, no RSA. */
  screen(packet: Buffer, source: PacketSource): Screened {
    const type = packet[0];
    if (type !== PacketType.KeyRequest && type !== PacketType.Hello) return DROP;
    const p = type === PacketType.KeyRequest ? decodeKeyRequestPacket(packet) : decodeHelloPacket(packet);
    if (!p) return DROP;
    if (!this.#cookies.verify(source, p.cookie)) {
      const cookie = this.#cookies.cookie(source);
      return cookie ? reply(packet, encodeCookiePacket(p.token, cookie), 'cookie') : DROP;
    }
    // The source has shown it receives at its address: it may get answers other than Cookie.
    try {
      if (type === PacketType.KeyRequest) {
        decodeKeyRequest(p.frame);
        return reply(packet, encodeKeyResponsePacket(p.token, this.#keyResponse), 'keyResponse');
      }
      return this.#screenHello(packet, source, p.token, p.frame);
    } catch (err) {
      if (!(err instanceof HandshakeError)) throw err;
      return reply(
        packet,
        encodeAlertPacket(p.token, ALERT_FOR_CODE[err.code] ?? AlertCode.HandshakeFailed),
        'alert',
        err,
      );
    }
  }

  /**
   * Admits a screened Hello (call after the rate limit and admission): draws conn_id,
   * server_random and the X25519 key, and returns the handshake, whose RSA step is next.
   * `now` starts its handshake timeout. `keyLog`: the key log this session's secrets go to
   * (PROTOCOL.md "Key log format"), if any.
   */
  acceptHello(hello: ScreenedHello, now: number, keyLog?: KeyLog): Accepted {
    const o = this.#options;
    const ephemeral = x25519Key(o.ephemeralPrivate);
    let shared: Buffer;
    try {
      // §2 step 7, done before the RSA step (the outcome is the same, and it costs less).
      shared = x25519Shared(ephemeral.privateKey, hello.hello.ephemeral);
    } catch (cause) {
      const error = new HandshakeError(
        ErrorCode.HANDSHAKE,
        'handshake: client sent an invalid ephemeral key',
        {
          cause,
        },
      );
      return { kind: 'refuse', packet: this.refuse(hello, AlertCode.HandshakeFailed), error };
    }
    const connectionId = this.#connectionId();
    const serverRandom = this.#random(RANDOM_SIZE);
    return {
      kind: 'handshake',
      handshake: new DatagramServerHandshake({
        hello,
        key: this.#keys[hello.keyIndex]!,
        serverKey: this.#publicKeys[hello.keyIndex]!,
        connectionId,
        serverRandom,
        ephemeral: ephemeral.publicRaw,
        shared,
        deadline: now + this.#timeout,
        random: this.#random,
        contextRandom: o.random,
        context: o.context,
        clientKeyAllowed: o.clientKeyAllowed,
        keyLog,
      }),
    };
  }

  /** The Alert packet refusing `hello` with `code` (default ServerBusy), 19 bytes. */
  refuse(hello: ScreenedHello, code: AlertCode = AlertCode.ServerBusy): Buffer {
    return encodeAlertPacket(hello.token, code);
  }

  /** §2 "Parsing" steps 1–4 on a cookie-verified Hello, and the answer's size. */
  #screenHello(packet: Buffer, source: PacketSource, token: Buffer, view: Buffer): Screened {
    const frame = Buffer.from(view);
    const hello = decodeClientHello(frame);
    // Datagrams have no resumption (Part II §D3): bit 1 stays reserved here.
    if ((hello.flags & FLAG_TICKETS) !== 0) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: malformed client hello');
    }
    const suite = acceptedSuite(hello.suiteIds, this.#suites);
    const keyIndex = this.#fingerprints.findIndex((f) => f.equals(hello.keyId));
    if (keyIndex < 0) {
      throw new HandshakeError(
        ErrorCode.SERVER_KEY_MISMATCH,
        'handshake: client named a server key this server does not hold',
      );
    }
    // §D3: no answer larger than the packet. A Hello too small for its ServerHello (a short
    // ciphertext) gets nothing, and costs no RSA.
    if (serverHelloSize(suite) > packet.length) return DROP;
    const addr = addressBytes(source.address)!;
    const id = `${addr.family}|${addr.bytes.toString('hex')}|${source.port}|${token.toString('hex')}`;
    return {
      kind: 'hello',
      hello: {
        id,
        source: { address: source.address, port: source.port },
        token: Buffer.from(token),
        suite,
        keyIndex,
        packetSize: packet.length,
        frame,
        hello,
      },
    };
  }

  #connectionId(): Buffer {
    const inUse = this.#options.connectionIdInUse;
    for (let i = 0; i < CONN_ID_TRIES; i++) {
      const id = this.#random(CONN_ID_SIZE);
      if (!inUse?.(id)) return id;
    }
    throw new SessionError(ErrorCode.SERVER_BUSY, 'no free conn_id');
  }
}

/** An answer, sent only if it is no larger than the packet it answers (§D3). */
function reply(
  packet: Buffer,
  answer: Buffer,
  what: 'cookie' | 'keyResponse' | 'alert',
  error?: HandshakeError,
): Screened {
  if (answer.length > packet.length) return DROP;
  return error ? { kind: 'reply', packet: answer, what, error } : { kind: 'reply', packet: answer, what };
}
