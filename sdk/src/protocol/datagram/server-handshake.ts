/**
 * One server handshake in progress (PROTOCOL.md §D3), from an admitted Hello to an open
 * session, without I/O. Made by {@link DatagramHandshakeGate.acceptHello}. A transport
 * drives it:
 *
 *   RSA:   run hs.decryptRequest ({ keyIndex, ciphertext }) in the worker pool, then
 *          send(source, hs.completeDecrypt(secretOrNull))     // the ServerHello packet
 *          (or, keys[keyIndex] being a PrivateKey, send(source, hs.decryptLocally()))
 *          A failed decryption is null: implicit rejection, the handshake goes on and
 *          fails at key confirmation (§7.4). Until then `repeatHello` answers null.
 *   Hello again (same source and token): send hs.repeatHello(hello) if not null
 *          (the stored ServerHello, at most 3 times; no RSA, no new state).
 *   Record with hs.connectionId:  const r = hs.receiveRecord(packet, now)
 *     'drop'       nothing (not epoch 0 seq 0, did not open, a duplicate ClientFinished)
 *     'verify'     run r.request (RSA-PSS verify of the client's signature) in the pool,
 *                  then r2 = hs.completeVerify(valid) → 'authorize' (or throws)
 *     'authorize'  the ClientFinished passed §6 steps 1–4; r.clientKey (null: no client
 *                  auth). Run the server's own authorization (step 5), then:
 *                  yes → const { result, handshakeDone } = hs.accept(); send handshakeDone;
 *                        hand result (contexts, conn_id, peer info) to a new session
 *                  no  → hs.deny(); send hs.refusal (the Alert record NotAuthorized)
 *   receiveRecord / completeVerify throw a SessionError (ERR_HANDSHAKE, ERR_NOT_AUTHORIZED,
 *   ERR_CLIENT_KEY_UNSUPPORTED) when the ClientFinished is refused: the handshake is
 *   over (its keys wiped); the transport sends `hs.refusal` if not null — the one Alert
 *   record that tells a client holding the keys why (§D3) — and reports the error locally.
 *   Timeout: drop the handshake (destroy) once `now >= hs.deadline` without accept().
 */
import { Buffer } from 'node:buffer';
import { PrivateKey } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { ALERT_FOR_CODE } from '../alerts.js';
import { oaepDecrypt, pssVerify } from '../asymmetric.js';
import { clientAuthFailed, readClientFinished } from '../client-auth.js';
import { FLAG_CLIENT_AUTH, encodeServerHello } from '../handshake-messages.js';
import { PRE_SECRET_SIZE } from '../constants.js';
import { randomSecret, secretCopy } from '../crypto.js';
import type { RandomSource } from '../crypto.js';
import { ErrorCode, HandshakeError, SessionError } from '../errors.js';
import type { KeyLog } from '../key-log.js';
import type { DecryptRequest, VerifyRequest } from '../server-connection.js';
import { DatagramRecordType, MAX_SERVER_HELLO_RESENDS } from './constants.js';
import type { DatagramInbound, DatagramOutbound } from './contexts.js';
import type { PacketSource } from './cookie.js';
import {
  DGRAM_CLIENT_AUTH_CONTEXT,
  contextOptions,
  handshakeSecrets,
  makeContexts,
} from './handshake-keys.js';
import type { DatagramHandshakeResult, HandshakeContextOptions } from './handshake-types.js';
import { encodeServerHelloPacket, recordHeader } from './packets.js';
import type { ScreenedHello } from './server-gate.js';

export type { DecryptRequest, VerifyRequest };

export type ServerRecordStep =
  | { readonly kind: 'drop' }
  | { readonly kind: 'verify'; readonly request: VerifyRequest }
  | { readonly kind: 'authorize'; readonly clientKey: PublicKey | null };

export type ServerHandshakeState =
  'decrypting' | 'awaitFinished' | 'verifying' | 'authorizing' | 'done' | 'failed';

/** @internal What the gate hands a new handshake. */
export interface ServerHandshakeInit {
  readonly hello: ScreenedHello;
  readonly key: PrivateKey | PublicKey;
  readonly serverKey: PublicKey;
  readonly connectionId: Buffer;
  readonly serverRandom: Buffer;
  /** The server's X25519 public value, and the shared secret already computed. */
  readonly ephemeral: Buffer;
  readonly shared: Buffer;
  readonly deadline: number;
  readonly random: RandomSource;
  /** @internal The contexts' random source (vectors only). */
  readonly contextRandom: RandomSource | undefined;
  readonly context: HandshakeContextOptions | undefined;
  readonly clientKeyAllowed: ((key: PublicKey) => boolean) | undefined;
  /** Hands out the epoch-0 secrets for a key log (PROTOCOL.md "Key log format"). */
  readonly keyLog?: KeyLog | undefined;
}

const DROP: ServerRecordStep = Object.freeze({ kind: 'drop' });
const EMPTY = Buffer.alloc(0);

/** RSA-PSS verification of a 'verify' step in place (a transport without a worker pool). */
export function verifyClientSignature(request: VerifyRequest): boolean {
  return pssVerify(request.key.keyObject, request.message, request.signature);
}

export class DatagramServerHandshake {
  readonly #init: ServerHandshakeInit;
  #state: ServerHandshakeState = 'decrypting';
  #shared: Buffer | null;
  #serverHello: Buffer | null = null;
  #resends = 0;
  #th: Buffer | null = null;
  #outbound: DatagramOutbound | null = null;
  #inbound: DatagramInbound | null = null;
  #clientKey: PublicKey | null = null;
  /** The ClientFinished record opened: the client holds the keys, so a refusal is sealed. */
  #confirmed = false;
  #refusal: Buffer | null = null;

  /** @internal made by DatagramHandshakeGate.acceptHello */
  constructor(init: ServerHandshakeInit) {
    this.#init = init;
    this.#shared = init.shared;
  }

  /** (source, token), as ScreenedHello.id. */
  get id(): string {
    return this.#init.hello.id;
  }
  get source(): PacketSource {
    return this.#init.hello.source;
  }
  /** The session's conn_id (8 bytes, fresh; a copy): route Record packets carrying it here. */
  get connectionId(): Buffer {
    return Buffer.from(this.#init.connectionId);
  }
  /** When the handshake times out (the clock of `now` given to acceptHello). */
  get deadline(): number {
    return this.#init.deadline;
  }
  get state(): ServerHandshakeState {
    return this.#state;
  }
  /** The RSA-OAEP decryption to run: `keys[keyIndex]` over `ciphertext`. */
  get decryptRequest(): DecryptRequest {
    const h = this.#init.hello;
    return { keyIndex: h.keyIndex, ciphertext: h.hello.encryptedSecret };
  }

  /** Runs the decryption in place (keys[keyIndex] must be a PrivateKey) and completes it. */
  decryptLocally(): Buffer {
    const key = this.#init.key;
    if (!(key instanceof PrivateKey)) {
      throw new SessionError(
        ErrorCode.INVALID_STATE,
        'decryptLocally: this key is held elsewhere; use completeDecrypt',
      );
    }
    if (this.#state !== 'decrypting') throw notNow('completeDecrypt');
    return this.completeDecrypt(oaepDecrypt(key.keyObject, this.#init.hello.hello.encryptedSecret));
  }

  /**
   * The decryption finished: `secret` is the plaintext, or null on any failure. Derives
   * the keys and returns the ServerHello packet (ServerFinished inside) to send to
   * `source`, kept for resends. The core wipes `secret`. Once only (ERR_INVALID_STATE).
   */
  completeDecrypt(secret: Buffer | null): Buffer {
    if (secret !== null && !(secret instanceof Uint8Array)) {
      throw new TypeError('completeDecrypt takes the decrypted bytes (a Buffer or Uint8Array) or null');
    }
    if (this.#state !== 'decrypting') throw notNow('completeDecrypt');
    const init = this.#init;
    const { hello, suite } = init.hello;
    // Implicit rejection (§7.4): anything but 64 bytes becomes 64 random bytes; the
    // handshake goes on and fails at key confirmation.
    const preSecret =
      secret && secret.length === PRE_SECRET_SIZE
        ? secretCopy(secret)
        : randomSecret(init.random, PRE_SECRET_SIZE);
    secret?.fill(0);
    const serverHelloFrame = encodeServerHello({
      suiteIds: suite.ids,
      random: init.serverRandom,
      ephemeral: init.ephemeral,
    });
    const secrets = handshakeSecrets(
      suite,
      {
        preSecret,
        shared: this.#shared!,
        clientRandom: hello.random,
        serverRandom: init.serverRandom,
        clientHello: init.hello.frame,
        serverHello: serverHelloFrame,
        connectionId: init.connectionId,
      },
      init.keyLog,
    );
    this.#shared = null;
    const options = contextOptions(suite, init.connectionId, init.context, init.contextRandom);
    const { outbound, inbound } = makeContexts(secrets, 'server', options);
    this.#outbound = outbound;
    this.#inbound = inbound;
    this.#th = secrets.th;
    const record = outbound.seal(DatagramRecordType.ServerFinished, secrets.proof);
    const packet = encodeServerHelloPacket(init.hello.token, init.connectionId, serverHelloFrame, record);
    if (packet.length > init.hello.packetSize) {
      // The gate sized this before admitting the Hello; never send more than was received.
      this.destroy();
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: the answer would exceed the hello');
    }
    this.#serverHello = packet;
    this.#state = 'awaitFinished';
    return packet;
  }

  /** A Hello with this (source, token) again: the stored ServerHello (≤ 3 times), else null. */
  repeatHello(hello: ScreenedHello): Buffer | null {
    if (this.#state !== 'awaitFinished' || hello.id !== this.#init.hello.id) return null;
    if (!hello.frame.equals(this.#init.hello.frame)) return null;
    if (this.#resends >= MAX_SERVER_HELLO_RESENDS) return null;
    this.#resends++;
    return this.#serverHello;
  }

  /** A Record packet naming this handshake's conn_id (from any address). */
  receiveRecord(packet: Buffer, now: number): ServerRecordStep {
    if (this.#state !== 'awaitFinished' || now >= this.#init.deadline) return DROP;
    // Cheap checks first: only the ClientFinished (c2s epoch 0, seq 0) is opened; earlier
    // Data is dropped unopened (§D3), and changes nothing.
    const header = recordHeader(packet);
    if (
      !header ||
      !header.connectionId.equals(this.#init.connectionId) ||
      header.epoch !== 0 ||
      header.seq !== 0
    ) {
      return DROP;
    }
    const opened = this.#inbound!.open(packet);
    if (!opened.ok) return DROP;
    this.#confirmed = true;
    try {
      if (opened.type !== DatagramRecordType.ClientFinished) {
        throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: the first record is not a ClientFinished');
      }
      const wantsAuth = (this.#init.hello.hello.flags & FLAG_CLIENT_AUTH) !== 0;
      const auth = readClientFinished(opened.payload, wantsAuth, this.#init.clientKeyAllowed);
      if (!auth) {
        this.#state = 'authorizing';
        return { kind: 'authorize', clientKey: null };
      }
      this.#clientKey = auth.key;
      this.#state = 'verifying';
      return {
        kind: 'verify',
        request: {
          key: auth.key,
          message: Buffer.concat([DGRAM_CLIENT_AUTH_CONTEXT, this.#th!]),
          signature: Buffer.from(auth.signature),
        },
      };
    } catch (err) {
      this.#refuse(err);
      throw err;
    }
  }

  /** The signature check of a 'verify' step finished. Throws ERR_NOT_AUTHORIZED if not valid. */
  completeVerify(valid: boolean): ServerRecordStep {
    if (this.#state !== 'verifying') throw notNow('completeVerify');
    if (!valid) {
      const err = clientAuthFailed();
      this.#refuse(err);
      throw err;
    }
    this.#state = 'authorizing';
    return { kind: 'authorize', clientKey: this.#clientKey };
  }

  /**
   * The client is accepted: returns the session's contexts and peer info, and the
   * HandshakeDone Record packet to send. Only after 'authorize'.
   */
  accept(): { readonly result: DatagramHandshakeResult; readonly handshakeDone: Buffer } {
    if (this.#state !== 'authorizing') throw notNow('accept');
    const outbound = this.#outbound!;
    const inbound = this.#inbound!;
    const handshakeDone = outbound.seal(DatagramRecordType.HandshakeDone, EMPTY);
    this.#state = 'done';
    this.#outbound = null;
    this.#inbound = null;
    this.#wipe();
    const init = this.#init;
    return {
      handshakeDone,
      result: {
        outbound,
        inbound,
        connectionId: Buffer.from(init.connectionId),
        info: { suite: init.hello.suite, serverKey: init.serverKey, clientKey: this.#clientKey },
      },
    };
  }

  /**
   * The Alert record that refuses a ClientFinished which opened (§D3): sealed when the
   * refusal happened, before the keys were wiped; null otherwise. One per handshake.
   */
  get refusal(): Buffer | null {
    return this.#refusal;
  }

  /** The server's own authorization said no (§6 step 5): refuse with NotAuthorized. */
  deny(): void {
    if (this.#state !== 'authorizing') throw notNow('deny');
    this.#refuse(new SessionError(ErrorCode.NOT_AUTHORIZED, 'client not authorized'));
  }

  /** Seals the Alert record for `err` if the ClientFinished opened, then drops the handshake. */
  #refuse(err: unknown): void {
    const code = err instanceof SessionError ? ALERT_FOR_CODE[err.code] : undefined;
    if (this.#outbound && this.#confirmed && code !== undefined) {
      const payload = Buffer.allocUnsafe(2);
      payload.writeUInt16BE(code);
      this.#refusal = this.#outbound.seal(DatagramRecordType.Alert, payload);
    }
    this.destroy();
  }

  /** Drops the handshake: wipes its keys. */
  destroy(): void {
    if (this.#state !== 'done') this.#state = 'failed';
    this.#outbound?.destroy();
    this.#inbound?.destroy();
    this.#outbound = null;
    this.#inbound = null;
    this.#wipe();
  }

  #wipe(): void {
    this.#shared?.fill(0);
    this.#shared = null;
    this.#th = null;
    this.#serverHello = null;
  }
}

function notNow(what: string): SessionError {
  return new SessionError(ErrorCode.INVALID_STATE, `${what}() is not valid in this state of the handshake`);
}
