/**
 * The client's handshake (PROTOCOL.md "Client state machine"):
 *
 *   [KeyRequest → KeyResponse →]  ClientHello → ServerHello, {ServerFinished} → {ClientFinished} → open
 *
 * The bracketed exchange happens only when the client does not hold the server's key yet.
 */
import { Buffer } from 'node:buffer';
import { PublicKey } from '@secsess/keys';
import {
  AlertCode,
  CLIENT_AUTH_CONTEXT,
  FrameType,
  PRE_SECRET_SIZE,
  RANDOM_SIZE,
  RecordType,
} from './constants.js';
import { Connection } from './connection.js';
import type { ConnectionHandler, ConnectionOptions } from './connection.js';
import { constantTimeEqual, hash, hmac } from './crypto.js';
import { oaepEncrypt, parseSpki, pssSign, x25519Key, x25519Shared } from './asymmetric.js';
import type { EphemeralKey } from './asymmetric.js';
import { ErrorCode, HandshakeError, SessionError } from './errors.js';
import {
  FLAG_CLIENT_AUTH,
  decodeKeyResponse,
  decodeServerHello,
  encodeClientHello,
  encodeKeyRequest,
} from './handshake-messages.js';
import type { PrivateKey } from '@secsess/keys';
import { exporterSecret } from './datagram/key-schedule.js';
import { deriveMaster, initialTrafficSecret, serverFinishedKey } from './key-schedule.js';
import { RecordOpener, RecordSealer, maxRecordBody } from './record-layer.js';
import { resolveSuite } from './suite.js';
import type { AlgorithmSet, Suite } from './suite.js';

export interface ClientConnectionOptions extends ConnectionOptions {
  /**
   * The server's public key. Omit it to ask the server for its key first (one more round
   * trip); the handler's `serverKey` callback then decides whether to trust what came back.
   */
  readonly serverKey?: PublicKey;
  /** The algorithm set to use. Default RSA / AES-256-CBC / SHA-256. */
  readonly set?: AlgorithmSet;
  /** The client's own key, to authenticate to the server. Default: none. */
  readonly clientKey?: PrivateKey;
  /** @internal Test vectors only: fixed X25519 private key bytes. */
  readonly ephemeralPrivate?: Buffer;
  /** @internal Test vectors only: a fixed key-transport ciphertext to send. */
  readonly fixedEncryptedSecret?: (preSecret: Buffer) => Buffer;
}

/** The client's handler: {@link ConnectionHandler} and the optional trust decision. */
export interface ClientConnectionHandler extends ConnectionHandler {
  /**
   * The server sent its public key in answer to our key request. Decide whether to trust it
   * (now or later) and call {@link ClientConnection.useServerKey}, or fail the connection.
   */
  serverKey?(key: PublicKey): void;
}

type ClientStep = 'idle' | 'awaitKey' | 'awaitKeyDecision' | 'awaitServerHello' | 'awaitFinished' | 'done';

/** What an open connection keeps of its options: nothing (the handshake needed them). */
const NO_OPTIONS: ClientConnectionOptions = {};

/**
 * The client's side of a secsess connection, without I/O. Call `start()` to send the first
 * message, feed the server's bytes to `receive()`; `handler.established` reports the open
 * session, then `write()` / `writeMany()` send messages and `close()` ends it. Every handler
 * callback runs synchronously inside the call that caused it.
 *
 * @throws TypeError from the constructor for a bad option, or without both `serverKey`
 *   and a `handler.serverKey` callback (a client never trusts an unknown key by default).
 */
export class ClientConnection extends Connection {
  readonly #suite: Suite;
  #options: ClientConnectionOptions;
  readonly #clientHandler: ClientConnectionHandler;
  #step: ClientStep = 'idle';
  #serverKey: PublicKey | null;
  // Handshake state below is dropped (null) as soon as it is no longer needed: an idle
  // session keeps only its record states.
  #transcript: Buffer[] | null = [];
  #random: Buffer | null = null;
  #ephemeral: EphemeralKey | null = null;
  #preSecret: Buffer | null = null;
  #expectedProof: Buffer | null = null;
  #transcriptHash: Buffer | null = null;

  constructor(handler: ClientConnectionHandler, options: ClientConnectionOptions = {}) {
    super(handler, options);
    this.#clientHandler = handler;
    this.#options = options;
    this.#suite = resolveSuite(options.set);
    if (options.serverKey !== undefined && !(options.serverKey instanceof PublicKey)) {
      throw new TypeError('serverKey must be a PublicKey from @secsess/keys');
    }
    this.#serverKey = options.serverKey ?? null;
    if (!this.#serverKey && !handler.serverKey) {
      // Never trust whatever key the server sends: a caller without the key must decide.
      throw new TypeError(
        'serverKey is required unless the handler decides on the server key (serverKey callback)',
      );
    }
  }

  /** Starts the handshake: sends the first message. */
  start(): void {
    if (this.#step !== 'idle') throw new SessionError(ErrorCode.INVALID_STATE, 'start() may be called once');
    if (this.#serverKey) {
      this.#sendHello();
    } else {
      const request = encodeKeyRequest();
      this.#transcript!.push(request);
      this.#step = 'awaitKey';
      this.handler.send(request);
    }
  }

  /** Continues a handshake paused at `serverKey`: the caller trusts `key`. */
  useServerKey(key: PublicKey): void {
    if (this.#step !== 'awaitKeyDecision') {
      throw new SessionError(ErrorCode.INVALID_STATE, 'useServerKey() is only valid after serverKey()');
    }
    this.#serverKey = key;
    this.#sendHello();
  }

  protected plaintextAlertAllowed(code: AlertCode): boolean {
    return code === AlertCode.HandshakeFailed || code === AlertCode.UnsupportedVersion;
  }

  protected onHandshakeFrame(type: number, view: Buffer): void {
    // Kept in the transcript across the asynchronous trust decision: own a copy.
    const frame = Buffer.from(view);
    if (this.#step === 'awaitKey' && type === FrameType.KeyResponse) {
      const spki = decodeKeyResponse(frame);
      const keyObject = parseSpki(spki);
      let key: PublicKey;
      try {
        if (!keyObject) throw new Error('not SPKI');
        key = PublicKey.fromKeyObject(keyObject);
      } catch (cause) {
        throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server sent an unusable public key', {
          cause,
        });
      }
      this.#transcript!.push(frame);
      this.#step = 'awaitKeyDecision';
      this.#clientHandler.serverKey!(key);
      return;
    }
    if (this.#step === 'awaitServerHello' && type === FrameType.ServerHello) {
      this.#onServerHello(frame);
      return;
    }
    throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: unexpected message from server');
  }

  protected onHandshakeRecord(type: number, payload: Buffer): void {
    if (this.#step !== 'awaitFinished' || type !== RecordType.ServerFinished) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: unexpected record from server');
    }
    if (!constantTimeEqual(payload, this.#expectedProof!)) throw proofFailed();
    this.#expectedProof = null;
    this.handler.send(this.sealer!.seal(RecordType.ClientFinished, this.#clientFinishedPayload()));
    this.#step = 'done';
    this.#transcriptHash = null;
    const clientKey = this.#options.clientKey?.publicKey ?? null;
    this.#options = NO_OPTIONS;
    this.awaitingAcceptance = true;
    this.open({ suite: this.#suite, serverKey: this.#serverKey!, clientKey, resumed: false });
  }

  protected handshakeRecordRejected(cause: unknown): HandshakeError {
    return proofFailed(cause);
  }

  #sendHello(): void {
    const serverKey = this.#serverKey!;
    this.#random = this.random(RANDOM_SIZE);
    this.#ephemeral = x25519Key(this.#options.ephemeralPrivate);
    this.#preSecret = this.random(PRE_SECRET_SIZE);
    const encryptedSecret = this.#options.fixedEncryptedSecret
      ? this.#options.fixedEncryptedSecret(this.#preSecret)
      : oaepEncrypt(serverKey.keyObject, this.#preSecret);
    const hello = encodeClientHello({
      suiteIds: this.#suite.ids,
      flags: this.#options.clientKey ? FLAG_CLIENT_AUTH : 0,
      random: this.#random,
      ephemeral: this.#ephemeral.publicRaw,
      keyId: serverKey.fingerprintBytes(),
      encryptedSecret,
    });
    this.#transcript!.push(hello);
    this.#step = 'awaitServerHello';
    this.handler.send(hello);
  }

  #onServerHello(frame: Buffer): void {
    const hello = decodeServerHello(frame);
    if (hello.suiteIds.join() !== this.#suite.ids.join()) {
      throw new HandshakeError(
        ErrorCode.HANDSHAKE,
        'handshake: server answered with a different algorithm set',
      );
    }
    const transcript = this.#transcript!;
    transcript.push(frame);
    let shared: Buffer;
    try {
      shared = x25519Shared(this.#ephemeral!.privateKey, hello.ephemeral);
    } catch (cause) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server sent an invalid ephemeral key', {
        cause,
      });
    }
    const suite = this.#suite;
    const th = hash(suite.hashName, ...transcript);
    const master = deriveMaster(suite, {
      preSecret: this.#preSecret!,
      shared,
      clientRandom: this.#random!,
      serverRandom: hello.random,
      transcriptHash: th,
    });
    this.#transcript = null;
    this.#random = null;
    this.#expectedProof = hmac(suite.hashName, serverFinishedKey(suite, master), th);
    this.#transcriptHash = th;
    this.suite = suite;
    this.sealer = new RecordSealer(
      suite,
      initialTrafficSecret(suite, master, 'c2s'),
      this.random,
      this.keyBudget,
    );
    this.opener = new RecordOpener(suite, initialTrafficSecret(suite, master, 's2c'), this.keyBudget);
    // The server's next record is its ServerFinished: an HMAC of the suite's hash length.
    this.recordLimit = maxRecordBody(suite, suite.hashLength);
    this.exporter = exporterSecret(suite, master);
    master.fill(0);
    shared.fill(0);
    this.#preSecret!.fill(0);
    this.#preSecret = null;
    this.#ephemeral = null;
    this.#step = 'awaitFinished';
  }

  #clientFinishedPayload(): Buffer {
    const clientKey = this.#options.clientKey;
    if (!clientKey) return Buffer.of(0);
    const spki = clientKey.publicKey.toSpkiDer();
    const signature = pssSign(
      clientKey.keyObject,
      Buffer.concat([CLIENT_AUTH_CONTEXT, this.#transcriptHash!]),
    );
    const out = Buffer.allocUnsafe(1 + 2 + spki.length + 2 + signature.length);
    out[0] = FLAG_CLIENT_AUTH;
    out.writeUInt16BE(spki.length, 1);
    spki.copy(out, 3);
    out.writeUInt16BE(signature.length, 3 + spki.length);
    signature.copy(out, 5 + spki.length);
    return out;
  }
}

function proofFailed(cause?: unknown): HandshakeError {
  return new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server proof did not verify', { cause });
}
