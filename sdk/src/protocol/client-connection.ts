/**
 * The client's handshake (PROTOCOL.md "Client state machine"):
 *
 *   [KeyRequest → KeyResponse →]  ClientHello → ServerHello, {ServerFinished} → {ClientFinished} → open
 *   ResumeHello → ServerHello, {ServerFinished} → {ClientFinished} → open            (resumed, §6a)
 *   ResumeHello → ResumeRefused, ClientHello → … as the first line                   (refused, same transport)
 *
 * The bracketed exchange happens only when the client does not hold the server's key yet.
 * Asked for (`tickets`), the server's NewTicket goes to `handler.newTicket` once open.
 */
import { Buffer } from 'node:buffer';
import { PublicKey } from '@secsess/keys';
import {
  AlertCode,
  CLIENT_AUTH_CONTEXT,
  FrameType,
  LABEL_MASTER,
  LABEL_RESUMED_MASTER,
  PRE_SECRET_SIZE,
  RANDOM_SIZE,
  RecordType,
} from './constants.js';
import { Connection } from './connection.js';
import type { ConnectionHandler, ConnectionOptions } from './connection.js';
import { constantTimeEqual, hash, randomSecret } from './crypto.js';
import { oaepEncrypt, parseSpki, pssSign, x25519Key, x25519Shared } from './asymmetric.js';
import type { EphemeralKey } from './asymmetric.js';
import { ErrorCode, HandshakeError, SessionError } from './errors.js';
import {
  FLAG_CLIENT_AUTH,
  FLAG_TICKETS,
  FLAG_CHANNELS,
  decodeKeyResponse,
  decodeResumeRefused,
  decodeServerHello,
  encodeClientHello,
  encodeKeyRequest,
} from './handshake-messages.js';
import { checkResumeTicket, resumeHelloFor } from './client-resume.js';
import { readNewTicket } from './new-ticket.js';
import type { SessionTicket } from './ticket.js';
import type { PrivateKey } from '@secsess/keys';
import { handshakeSecrets } from './handshake-secrets.js';
import { RecordSealer, maxRecordBody } from './record-layer.js';
import { RecordOpener } from './record-opener.js';
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
  /**
   * Ask the server for a resumption ticket (PROTOCOL.md §6a); it arrives through
   * `handler.newTicket` after the session opened. Only for servers that implement
   * resumption: an older server refuses the request (ERR_HANDSHAKE). Default false.
   */
  readonly tickets?: boolean;
  /**
   * Carry channels (PROTOCOL.md §6b): ClientHello flag bit 2, so every message of the
   * session is channel frames. Only for servers that serve channels: others refuse the
   * hello (ERR_HANDSHAKE). A ResumeHello cannot carry it, so `resume` is not offered with
   * it. Default false.
   */
  readonly channels?: boolean;
  /**
   * Resume with this ticket (from `handler.newTicket` of an earlier session with the same
   * `serverKey`, `set` and `clientKey`): no RSA operation on either side. Offered once;
   * if the server refuses it, the full handshake follows on the same transport. The core
   * wipes its `psk` once used. Default: none.
   */
  readonly resume?: SessionTicket;
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
  /**
   * The server's ticket (asked for with `tickets`), for a later `resume`. The handler owns
   * its `psk` (a secret: keep it in memory only, wipe it when dropping the ticket).
   */
  newTicket?(ticket: SessionTicket): void;
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
  /** The ticket offered, until the server answers (its psk is wiped then). */
  #resume: SessionTicket | null = null;
  #resumed = false;
  readonly #wantsTickets: boolean;
  /** ClientHello flag bit 2 (§6b); never with a ResumeHello. */
  readonly #channels: boolean;
  /** The session's client key, once open (what a ticket received is for). */
  #sessionClientKey: PublicKey | null = null;

  constructor(handler: ClientConnectionHandler, options: ClientConnectionOptions = {}) {
    super(handler, options);
    this.#clientHandler = handler;
    this.#options = options;
    this.#suite = resolveSuite(options.set);
    if (options.serverKey !== undefined && !(options.serverKey instanceof PublicKey)) {
      throw new TypeError('serverKey must be a PublicKey from @secsess/keys');
    }
    this.#serverKey = options.serverKey ?? null;
    this.#wantsTickets = options.tickets === true;
    this.#channels = options.channels === true;
    if (options.resume !== undefined && this.#channels) {
      throw new TypeError('resume and channels do not go together: a ResumeHello has no channels flag (§6b)');
    }
    if (options.resume !== undefined) {
      checkResumeTicket(options.resume, this.#suite, this.#serverKey, options.clientKey?.publicKey ?? null);
      this.#resume = options.resume;
    }
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
    if (this.#resume) {
      this.#random = this.random(RANDOM_SIZE);
      this.#ephemeral = x25519Key(this.#options.ephemeralPrivate);
      const hello = resumeHelloFor(this.#resume, this.#random, this.#ephemeral.publicRaw, this.#wantsTickets);
      this.#transcript!.push(hello);
      this.#step = 'awaitServerHello';
      this.handler.send(hello);
    } else if (this.#serverKey) {
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

  /** Ends the connection (see Connection.fail); a ticket offered and not yet answered is wiped. */
  override fail(error: unknown): void {
    this.#resume?.psk.fill(0);
    this.#resume = null;
    super.fail(error);
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
    if (this.#step === 'awaitServerHello' && type === FrameType.ResumeRefused && this.#resume) {
      // The ticket is spent; the full handshake follows here, its transcript from its ClientHello.
      decodeResumeRefused(frame);
      this.#resume.psk.fill(0);
      this.#resume = null;
      this.#transcript = [];
      this.#sendHello();
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
    // Resumed: `00` — the identity is the ticket's, proven by its psk (§6a).
    const finished = this.#resumed ? Buffer.of(0) : this.#clientFinishedPayload();
    this.handler.send(this.sealer!.seal(RecordType.ClientFinished, finished));
    this.#step = 'done';
    this.#transcriptHash = null;
    const clientKey = this.#options.clientKey?.publicKey ?? null;
    this.#sessionClientKey = clientKey;
    this.#options = NO_OPTIONS;
    this.awaitingAcceptance = true;
    this.open({
      suite: this.#suite,
      serverKey: this.#serverKey!,
      clientKey,
      resumed: this.#resumed,
      channels: this.#channels,
    });
  }

  /** NewTicket (§6a): to `handler.newTicket`, if asked for, once, not between fragments. */
  protected override onOtherRecord(type: number, payload: Buffer, assembling: boolean): void {
    if (type !== RecordType.NewTicket) return super.onOtherRecord(type, payload, assembling);
    const state = { asked: this.#wantsTickets, assembling };
    const session = {
      suite: this.#suite,
      serverKey: this.#serverKey!,
      clientKey: this.#sessionClientKey,
      psk: this.psk,
    };
    const ticket = readNewTicket(payload, state, session);
    // No psk left: a second NewTicket is refused (readNewTicket).
    this.psk = null;
    const handler = this.#clientHandler;
    if (handler.newTicket) handler.newTicket(ticket);
    else ticket.psk.fill(0);
  }

  protected handshakeRecordRejected(cause: unknown): HandshakeError {
    return proofFailed(cause);
  }

  #sendHello(): void {
    const serverKey = this.#serverKey!;
    this.#random = this.random(RANDOM_SIZE);
    this.#ephemeral = x25519Key(this.#options.ephemeralPrivate);
    this.#preSecret = randomSecret(this.random, PRE_SECRET_SIZE);
    const encryptedSecret = this.#options.fixedEncryptedSecret
      ? this.#options.fixedEncryptedSecret(this.#preSecret)
      : oaepEncrypt(serverKey.keyObject, this.#preSecret);
    const hello = encodeClientHello({
      suiteIds: this.#suite.ids,
      flags:
        (this.#options.clientKey ? FLAG_CLIENT_AUTH : 0) |
        (this.#wantsTickets ? FLAG_TICKETS : 0) |
        (this.#channels ? FLAG_CHANNELS : 0),
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
    // Resumed: the ticket's psk in place of pre_secret, and the resumed label (§6a).
    const resume = this.#resume;
    const secret = resume ? resume.psk : this.#preSecret!;
    const keys = handshakeSecrets(
      suite,
      {
        preSecret: secret,
        shared,
        clientRandom: this.#random!,
        serverRandom: hello.random,
        transcriptHash: th,
      },
      resume ? LABEL_RESUMED_MASTER : LABEL_MASTER,
      this.#wantsTickets,
      this.#options.keyLog,
    );
    this.#resumed = resume !== null;
    this.#resume = null;
    this.psk = keys.psk;
    this.#transcript = null;
    this.#random = null;
    this.#expectedProof = keys.proof;
    this.#transcriptHash = th;
    this.suite = suite;
    this.sealer = new RecordSealer(suite, keys.c2s, this.random, this.keyBudget);
    this.opener = new RecordOpener(suite, keys.s2c, this.keyBudget);
    // The server's next record is its ServerFinished: an HMAC of the suite's hash length.
    this.recordLimit = maxRecordBody(suite, suite.hashLength);
    this.exporter = keys.exporter;
    shared.fill(0);
    secret.fill(0);
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
