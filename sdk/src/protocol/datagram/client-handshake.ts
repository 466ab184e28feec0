/**
 * The client's datagram handshake (PROTOCOL.md §D3), without I/O:
 *
 *   [KeyRequest ─▶ (Cookie ─▶ KeyRequest) ─▶ KeyResponse ─▶ trust decision]
 *   Hello ─▶ (Cookie ─▶ Hello) ─▶ ServerHello + ServerFinished ─▶ ClientFinished ─▶ open
 *
 * How a transport drives it (one connected UDP socket, one timer):
 *
 *   const hs = new DatagramClientHandshake({ serverKey, set, clientKey, cookie });
 *   send(hs.start(now));                       // KeyRequest (no serverKey) or Hello
 *   timer at hs.nextTimeout()                   // absolute ms on the caller's clock, or null
 *   on timer:  const p = hs.onTimeout(now); if (p) send(p); re-arm at hs.nextTimeout()
 *              (throws TimeoutError('handshake') once the handshake timeout has passed)
 *   on packet: const step = hs.receive(packet, now);
 *     'ignore'    dropped: not for this attempt, a duplicate, garbage (nothing changed)
 *     'send'      send step.packet now (a Cookie arrived: the same packet, with the cookie)
 *     'serverKey' decide whether to trust step.key (sync or async; retransmission pauses):
 *                 yes → send(hs.useServerKey(key, now)); no → give up (nothing is sent)
 *     'open'      send step.clientFinished, then hand step.result (contexts, peer info)
 *                 and step.clientFinished (to resend, §D3) to the session
 *   receive() and onTimeout() throw a HandshakeError (or the error an Alert packet stands
 *   for) when the handshake fails; the object is then finished: every later call is
 *   'ignore' / null. `cookie` is the last Cookie the server sent, for the caller to cache
 *   per server endpoint and pass to the next handshake with that server.
 *
 * The token is drawn once per handshake object (one attempt) and is in every packet it
 * sends; only answers carrying it are read.
 */
import { Buffer } from 'node:buffer';
import { PrivateKey, PublicKey } from '@secsess/keys';
import { errorForAlert } from '../alerts.js';
import { PRE_SECRET_SIZE, RANDOM_SIZE } from '../constants.js';
import { constantTimeEqual, randomSecret, secureRandom } from '../crypto.js';
import type { RandomSource } from '../crypto.js';
import { oaepEncrypt, parseSpki, pssSign, x25519Key, x25519Shared } from '../asymmetric.js';
import type { EphemeralKey } from '../asymmetric.js';
import { ErrorCode, HandshakeError, SessionError, TimeoutError } from '../errors.js';
import {
  FLAG_CLIENT_AUTH,
  decodeKeyResponse,
  decodeServerHello,
  encodeClientHello,
  encodeKeyRequest,
} from '../handshake-messages.js';
import type { KeyLog } from '../key-log.js';
import { resolveSuite } from '../suite.js';
import type { AlgorithmSet, Suite } from '../suite.js';
import {
  COOKIE_SIZE,
  DatagramRecordType,
  MAX_COOKIES_PER_ATTEMPT,
  PacketType,
  RETRANSMIT_INITIAL,
  RETRANSMIT_MAX,
  TOKEN_SIZE,
} from './constants.js';
import {
  DGRAM_CLIENT_AUTH_CONTEXT,
  contextOptions,
  encodeClientFinished,
  handshakeSecrets,
  makeContexts,
  serverKeyFromSpki,
} from './handshake-keys.js';
import type {
  DatagramHandshakeResult,
  HandshakeContextOptions,
  HandshakeTestInputs,
} from './handshake-types.js';
import {
  decodeAlertPacket,
  decodeCookiePacket,
  decodeKeyResponsePacket,
  decodeServerHelloPacket,
  encodeHelloPacket,
  encodeKeyRequestPacket,
  recordHeader,
} from './packets.js';

export interface DatagramClientHandshakeOptions extends HandshakeTestInputs {
  /**
   * The server's public key. Omit it to ask the server for its key first (KeyRequest);
   * `receive()` then returns a 'serverKey' step for the caller's trust decision.
   */
  readonly serverKey?: PublicKey;
  /** The algorithm set. Default RSA / AES-256-CBC / SHA-256. */
  readonly set?: AlgorithmSet;
  /** The client's own key, to authenticate (signature label "secsess v1 dgram client auth\0"). */
  readonly clientKey?: PrivateKey;
  /** A cookie this server gave earlier (16 bytes), sent with the first packet; else none. */
  readonly cookie?: Buffer | null;
  /** ms from start() until the handshake fails with ERR_TIMEOUT. Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Passed to the record contexts (replay mode, window, rekey limits, clock). */
  readonly context?: HandshakeContextOptions;
  /** Hands out the epoch-0 secrets for a key log (PROTOCOL.md "Key log format"). Default: none. */
  readonly keyLog?: KeyLog;
}

/** What to do with a received packet. */
export type ClientStep =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'send'; readonly packet: Buffer }
  | { readonly kind: 'serverKey'; readonly key: PublicKey }
  | {
      readonly kind: 'open';
      /** The ClientFinished Record packet: send it now, and resend it (§D3) until a record opens. */
      readonly clientFinished: Buffer;
      readonly result: DatagramHandshakeResult;
    };

export type ClientHandshakeState =
  'idle' | 'awaitKey' | 'awaitKeyDecision' | 'awaitServerHello' | 'open' | 'failed';

export const DEFAULT_DATAGRAM_HANDSHAKE_TIMEOUT = 10_000;
const IGNORE: ClientStep = Object.freeze({ kind: 'ignore' });

export class DatagramClientHandshake {
  readonly #suite: Suite;
  readonly #random: RandomSource;
  readonly #options: DatagramClientHandshakeOptions;
  readonly #timeout: number;
  readonly #token: Buffer;
  #state: ClientHandshakeState = 'idle';
  #serverKey: PublicKey | null;
  #cookie: Buffer | null;
  #cookies = 0;
  /** The frame of the packet being (re)sent: KeyRequest, then ClientHello. */
  #frame: Buffer | null = null;
  #packet: Buffer | null = null;
  #deadline = Infinity;
  #nextAt = Infinity;
  #wait = RETRANSMIT_INITIAL;
  #clientRandom: Buffer | null = null;
  #ephemeral: EphemeralKey | null = null;
  #preSecret: Buffer | null = null;

  /** @throws TypeError / RangeError for a bad option. */
  constructor(options: DatagramClientHandshakeOptions = {}) {
    if (options.serverKey !== undefined && !(options.serverKey instanceof PublicKey)) {
      throw new TypeError('serverKey must be a PublicKey from @secsess/keys');
    }
    if (options.clientKey !== undefined && !(options.clientKey instanceof PrivateKey)) {
      throw new TypeError('clientKey must be a PrivateKey from @secsess/keys');
    }
    const cookie = options.cookie ?? null;
    if (cookie !== null && (!Buffer.isBuffer(cookie) || cookie.length !== COOKIE_SIZE)) {
      throw new TypeError(`cookie must be a ${COOKIE_SIZE}-byte Buffer or null`);
    }
    const timeout = options.handshakeTimeout ?? DEFAULT_DATAGRAM_HANDSHAKE_TIMEOUT;
    if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) {
      throw new RangeError('handshakeTimeout must be a positive number of ms');
    }
    this.#suite = resolveSuite(options.set);
    this.#options = options;
    this.#timeout = timeout;
    this.#random = options.random ?? secureRandom;
    this.#serverKey = options.serverKey ?? null;
    this.#cookie = cookie ? Buffer.from(cookie) : null;
    this.#token = this.#random(TOKEN_SIZE);
  }

  /** This attempt's token (16 bytes, a copy). */
  get token(): Buffer {
    return Buffer.from(this.#token);
  }

  get state(): ClientHandshakeState {
    return this.#state;
  }

  /** The latest cookie the server gave (or the one passed in), for the caller's cache; null if none. */
  get cookie(): Buffer | null {
    return this.#cookie ? Buffer.from(this.#cookie) : null;
  }

  /** Starts the attempt at time `now` (ms): returns the first packet to send. Once only. */
  start(now: number): Buffer {
    if (this.#state !== 'idle') throw new SessionError(ErrorCode.INVALID_STATE, 'start() may be called once');
    this.#deadline = now + this.#timeout;
    if (this.#serverKey) return this.#sendHello(now);
    this.#frame = encodeKeyRequest();
    this.#state = 'awaitKey';
    return this.#send(now);
  }

  /** Handles one packet from the server (any type; the transport need not sort them). */
  receive(packet: Buffer, now: number): ClientStep {
    const state = this.#state;
    if (state === 'idle' || state === 'open' || state === 'failed') return IGNORE;
    try {
      switch (packet[0]) {
        case PacketType.Cookie:
          return this.#onCookie(packet, now);
        case PacketType.KeyResponse:
          return this.#onKeyResponse(packet);
        case PacketType.ServerHello:
          return this.#onServerHello(packet);
        case PacketType.Alert: {
          const alert = decodeAlertPacket(packet);
          if (!alert || !this.#ours(alert.token)) return IGNORE;
          throw errorForAlert(alert.code, true);
        }
        default:
          return IGNORE;
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /**
   * Continues after a 'serverKey' step: the caller trusts `key`. Returns the Hello packet
   * to send (retransmission restarts from 400 ms). Throws ERR_INVALID_STATE unless a
   * decision is pending.
   */
  useServerKey(key: PublicKey, now: number): Buffer {
    if (this.#state !== 'awaitKeyDecision') {
      throw new SessionError(ErrorCode.INVALID_STATE, 'useServerKey() is only valid after a serverKey step');
    }
    if (!(key instanceof PublicKey)) throw new TypeError('key must be a PublicKey from @secsess/keys');
    this.#serverKey = key;
    return this.#sendHello(now);
  }

  /**
   * When to call {@link onTimeout} next (absolute, the clock of `now`): the next
   * retransmission (400 ms, doubling up to 4 s) or the handshake deadline, whichever is
   * first; null once open or failed (or before start()).
   */
  nextTimeout(): number | null {
    switch (this.#state) {
      case 'awaitKey':
      case 'awaitServerHello':
        return Math.min(this.#nextAt, this.#deadline);
      case 'awaitKeyDecision':
        return this.#deadline;
      default:
        return null;
    }
  }

  /**
   * The timer fired: returns the packet to resend (identical to the last one sent), or
   * null if nothing is due. Throws TimeoutError (ERR_TIMEOUT, limit 'handshake') once the
   * deadline has passed, also while a trust decision is pending.
   */
  onTimeout(now: number): Buffer | null {
    const state = this.#state;
    if (state !== 'awaitKey' && state !== 'awaitServerHello' && state !== 'awaitKeyDecision') return null;
    if (now >= this.#deadline) {
      this.destroy();
      throw new TimeoutError('handshake', this.#timeout);
    }
    if (state === 'awaitKeyDecision' || now < this.#nextAt) return null;
    this.#wait = Math.min(this.#wait * 2, RETRANSMIT_MAX);
    this.#nextAt = now + this.#wait;
    return this.#packet;
  }

  /** Gives up: wipes what the handshake holds. Later calls ignore everything. */
  destroy(): void {
    if (this.#state !== 'open') this.#state = 'failed';
    this.#preSecret?.fill(0);
    this.#preSecret = null;
    this.#ephemeral = null;
    this.#clientRandom = null;
    this.#frame = null;
    this.#packet = null;
  }

  #ours(token: Buffer): boolean {
    return constantTimeEqual(token, this.#token);
  }

  /** Builds the packet of the current frame with the current cookie; the schedule restarts. */
  #send(now: number): Buffer {
    const frame = this.#frame!;
    this.#packet =
      this.#state === 'awaitKey'
        ? encodeKeyRequestPacket(this.#token, this.#cookie, frame)
        : encodeHelloPacket(this.#token, this.#cookie, frame);
    this.#wait = RETRANSMIT_INITIAL;
    this.#nextAt = now + RETRANSMIT_INITIAL;
    return this.#packet;
  }

  #sendHello(now: number): Buffer {
    const serverKey = this.#serverKey!;
    const o = this.#options;
    this.#clientRandom = this.#random(RANDOM_SIZE);
    this.#ephemeral = x25519Key(o.ephemeralPrivate);
    this.#preSecret = randomSecret(this.#random, PRE_SECRET_SIZE);
    const encryptedSecret = o.fixedEncryptedSecret
      ? o.fixedEncryptedSecret(this.#preSecret)
      : oaepEncrypt(serverKey.keyObject, this.#preSecret);
    this.#frame = encodeClientHello({
      suiteIds: this.#suite.ids,
      flags: o.clientKey ? FLAG_CLIENT_AUTH : 0,
      random: this.#clientRandom,
      ephemeral: this.#ephemeral.publicRaw,
      keyId: serverKey.fingerprintBytes(),
      encryptedSecret,
    });
    this.#state = 'awaitServerHello';
    return this.#send(now);
  }

  #onCookie(packet: Buffer, now: number): ClientStep {
    const p = decodeCookiePacket(packet);
    if (!p || !this.#ours(p.token)) return IGNORE;
    if (this.#state === 'awaitKeyDecision') return IGNORE;
    // The answer to a retransmission of a packet that already carries this cookie (§D2).
    if (this.#cookie && this.#cookie.equals(p.cookie)) return IGNORE;
    if (++this.#cookies > MAX_COOKIES_PER_ATTEMPT) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: the server sent too many cookies');
    }
    this.#cookie = Buffer.from(p.cookie);
    return { kind: 'send', packet: this.#send(now) };
  }

  #onKeyResponse(packet: Buffer): ClientStep {
    const p = decodeKeyResponsePacket(packet);
    if (!p || !this.#ours(p.token) || this.#state !== 'awaitKey') return IGNORE;
    const key = serverKeyFromSpki(parseSpki(decodeKeyResponse(p.frame)));
    this.#state = 'awaitKeyDecision';
    this.#packet = null;
    return { kind: 'serverKey', key };
  }

  #onServerHello(packet: Buffer): ClientStep {
    const p = decodeServerHelloPacket(packet);
    if (!p || !this.#ours(p.token) || this.#state !== 'awaitServerHello') return IGNORE;
    const suite = this.#suite;
    const hello = decodeServerHello(p.frame);
    if (hello.suiteIds.join() !== suite.ids.join()) {
      throw new HandshakeError(
        ErrorCode.HANDSHAKE,
        'handshake: server answered with a different algorithm set',
      );
    }
    let shared: Buffer;
    try {
      shared = x25519Shared(this.#ephemeral!.privateKey, hello.ephemeral);
    } catch (cause) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server sent an invalid ephemeral key', {
        cause,
      });
    }
    const connectionId = Buffer.from(p.connectionId);
    const secrets = handshakeSecrets(
      suite,
      {
        preSecret: this.#preSecret!,
        shared,
        clientRandom: this.#clientRandom!,
        serverRandom: hello.random,
        clientHello: this.#frame!,
        serverHello: p.frame,
        connectionId,
      },
      this.#options.keyLog,
    );
    this.#preSecret = null;
    const options = contextOptions(suite, connectionId, this.#options.context, this.#options.random);
    const { outbound, inbound } = makeContexts(secrets, 'client', options);
    // The ServerFinished: s2c epoch 0, seq 0, opening under s2c_0, carrying the proof.
    const header = recordHeader(p.record);
    const opened = header && header.epoch === 0 && header.seq === 0 ? inbound.open(p.record) : null;
    if (
      !opened ||
      !opened.ok ||
      opened.type !== DatagramRecordType.ServerFinished ||
      !constantTimeEqual(opened.payload, secrets.proof)
    ) {
      outbound.destroy();
      inbound.destroy();
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server proof did not verify');
    }
    const clientKey = this.#options.clientKey;
    const payload = clientKey
      ? encodeClientFinished(
          clientKey.publicKey.toSpkiDer(),
          pssSign(clientKey.keyObject, Buffer.concat([DGRAM_CLIENT_AUTH_CONTEXT, secrets.th])),
        )
      : encodeClientFinished(null, null);
    const clientFinished = outbound.seal(DatagramRecordType.ClientFinished, payload);
    this.#state = 'open';
    this.destroy();
    return {
      kind: 'open',
      clientFinished,
      result: {
        outbound,
        inbound,
        connectionId,
        info: { suite, serverKey: this.#serverKey!, clientKey: clientKey?.publicKey ?? null },
      },
    };
  }
}
