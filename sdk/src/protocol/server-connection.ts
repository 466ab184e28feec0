/**
 * The server's handshake (PROTOCOL.md "Server state machine"):
 *
 *   [KeyRequest → KeyResponse]  ClientHello → (decrypt) → ServerHello, {ServerFinished}
 *     → {ClientFinished} → [(verify the client's signature)] → open [→ {NewTicket}]
 *   ResumeHello → ServerHello, {ServerFinished} → {ClientFinished} → open [→ {NewTicket}]
 *   ResumeHello → ResumeRefused, then the full handshake from its ClientHello
 *
 * The resumption checks are server-resume.ts's, the ticket issued new-ticket.ts's (§6a).
 *
 * The RSA operations are the steps that may leave the event loop: if the handler has
 * `decryptSecret`, the connection pauses until `completeDecrypt()`, and if it has
 * `verifyClientAuth`, until `completeVerify()` (frames arriving in the meantime are
 * queued, bounded); otherwise each runs in place. Before a client's signature is verified,
 * its key must pass the cheap checks (RSA, 2048–4096 bits, exponent 65537) and
 * `clientKeyAllowed`: a key refused there costs no RSA operation.
 */
import { Buffer } from 'node:buffer';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import {
  AlertCode,
  CLIENT_AUTH_CONTEXT,
  FrameType,
  LABEL_MASTER,
  LABEL_RESUMED_MASTER,
  MAX_CLIENT_FINISHED_PAYLOAD,
  PRE_SECRET_SIZE,
  RANDOM_SIZE,
  RecordType,
} from './constants.js';
import {
  MAX_QUEUED_VERIFYING,
  checkKeyAllowed,
  clientAuthFailed,
  readClientFinished,
} from './client-auth.js';
import { Connection } from './connection.js';
import { hash, randomSecret } from './crypto.js';
import { oaepDecrypt, pssVerify, x25519Key, x25519Shared } from './asymmetric.js';
import { HeldFrames, MAX_HELD_DECRYPTING } from './held-frames.js';
import { markKeyProbe } from './key-probe.js';
import type { KeyProbe } from './key-probe.js';
import { ErrorCode, HandshakeError } from './errors.js';
import {
  FLAG_CLIENT_AUTH,
  FLAG_TICKETS,
  FLAG_CHANNELS,
  decodeClientHello,
  decodeKeyRequest,
  encodeKeyResponse,
  encodeResumeRefused,
  encodeServerHello,
} from './handshake-messages.js';
import type { ClientHello } from './handshake-messages.js';
import { issueTicket } from './new-ticket.js';
import { readResumeHello } from './server-resume.js';
import { handshakeSecrets } from './handshake-secrets.js';
import type { KeyLog } from './key-log.js';
import { RecordSealer, maxRecordBody } from './record-layer.js';
import { RecordOpener } from './record-opener.js';
import { ALL_SUITES, acceptedSuite } from './suite.js';
import type { Suite } from './suite.js';
import type { TicketContext } from './ticket.js';
import { checkServerKeys } from './server-connection-types.js';
import type {
  ServerConnectionHandler,
  ServerConnectionOptions,
  VerifyRequest,
} from './server-connection-types.js';

export type {
  DecryptRequest,
  ServerConnectionHandler,
  ServerConnectionOptions,
  VerifyRequest,
} from './server-connection-types.js';

type ServerStep = 'awaitHello' | 'decrypting' | 'awaitFinished' | 'verifying' | 'done';

/**
 * The server's side of a secsess connection, without I/O: feed the client's bytes to
 * `receive()`; it answers through `handler.send`, reports the open session with
 * `handler.established` (its `clientKey` is proven by the client's signature), then
 * messages. With `handler.decryptSecret` (and `verifyClientAuth`) the RSA step runs
 * wherever the handler sends it, and the handshake resumes at `completeDecrypt()`
 * (`completeVerify()`); without them it runs in place, inside `receive()`.
 *
 * @throws TypeError from the constructor for missing or wrong `keys` (a `PublicKey` in
 *   `keys` needs `handler.decryptSecret`), RangeError for an out-of-range size.
 */
export class ServerConnection extends Connection {
  readonly #keys: readonly (PrivateKey | PublicKey)[];
  /** The public half of each of `#keys`. */
  readonly #publicKeys: readonly PublicKey[];
  readonly #suites: readonly Suite[];
  readonly #ephemeralPrivate: Buffer | undefined;
  #step: ServerStep = 'awaitHello';
  // Handshake state below is dropped (null) as soon as it is no longer needed: an idle
  // session keeps only its record states.
  #transcript: Buffer[] | null = [];
  #keyRequested = false;
  /** A received frame raised an error (the peer's doing), to tell it from a local end. */
  #peerFailed = false;
  #keyProbe: KeyProbe | null = null;
  /** The hello being answered: a ClientHello, or a ResumeHello's fields (no ciphertext). */
  #hello: Pick<ClientHello, 'flags' | 'random' | 'ephemeral'> | null = null;
  readonly #tickets: TicketContext | undefined;
  readonly #keyLog: KeyLog | undefined;
  /** A ResumeHello arrived (at most one per connection, §6a). */
  #resumeOffered = false;
  /** A resumed session (only then set): its ticket's auth_time (§6a), for the ticket it may get. */
  #authTime: number | undefined;
  /** The client key of the session: the verified one, or in a resumed session its ticket's. */
  #sessionClientKey: PublicKey | null = null;
  /** Whether the ClientHello announced client authentication (kept past `#hello`). */
  #wantsAuth = false;
  /** Whether the ClientHello set bit 2, channels (§6b; kept past `#hello`). */
  #channels = false;
  /** The ClientHello flag bits this server accepts (§2): bit 2 only with `options.channels`. */
  readonly #allowedFlags: number;
  #helloSuite: Suite | null = null;
  #keyIndex = -1;
  readonly #clientKeyAllowed: ((key: PublicKey) => boolean) | undefined;
  /** The client key whose signature is being verified. */
  #clientKey: PublicKey | null = null;
  /** Frames that arrived while decrypting or verifying (held-frames.ts); made only if any do. */
  #held: HeldFrames | null = null;
  #transcriptHash: Buffer | null = null;

  constructor(handler: ServerConnectionHandler, options: ServerConnectionOptions) {
    super(handler, options);
    this.#publicKeys = checkServerKeys(options, handler);
    this.#keys = options.keys;
    this.#suites = options.suites ?? ALL_SUITES;
    this.#ephemeralPrivate = options.ephemeralPrivate;
    this.#clientKeyAllowed = options.clientKeyAllowed;
    this.#tickets = options.tickets;
    this.#keyLog = options.keyLog;
    this.#allowedFlags = FLAG_CLIENT_AUTH | FLAG_TICKETS | (options.channels === true ? FLAG_CHANNELS : 0);
  }

  /** The index into `keys` of the key the client chose, once its hello arrived; else -1. */
  get keyIndex(): number {
    return this.#keyIndex;
  }

  /**
   * Set when the handshake ended as a key probe rather than a failure (see {@link KeyProbe});
   * null otherwise.
   */
  get keyProbe(): KeyProbe | null {
    return this.#keyProbe;
  }

  override receive(chunk: Buffer): void {
    try {
      super.receive(chunk);
    } catch (err) {
      // Whatever the caller makes of this error (it may wrap it), the peer's bytes caused it.
      this.#peerFailed = true;
      throw err;
    }
  }

  /**
   * Ends the connection (see Connection.fail). A handshake that asked for the key and then
   * ended — the peer hung up with nothing else sent, or answered with HandshakeFailed — is
   * a key probe, not an attack: its error is marked so that the server can say so.
   */
  override fail(error: unknown): void {
    if (this.state !== 'closed' && this.#step === 'awaitHello' && this.#keyRequested) {
      this.#keyProbe = markKeyProbe(error, this.#peerFailed, this.bufferedBytes);
    }
    super.fail(error);
  }

  /**
   * Resumes a handshake paused at `decryptSecret`. `secret` is null if decryption failed
   * (the handshake then fails at key confirmation, like any wrong key). Ignored unless a
   * decryption is pending. The core overwrites `secret` with zeros once used. Throws like
   * `receive()` (frames that arrived meanwhile are handled now); the caller then calls
   * `fail()`; a `secret` that is neither a Buffer/Uint8Array nor null is a TypeError.
   */
  completeDecrypt(secret: Buffer | null): void {
    if (secret !== null && !(secret instanceof Uint8Array)) {
      throw new TypeError('completeDecrypt takes the decrypted bytes (a Buffer or Uint8Array) or null');
    }
    if (this.#step !== 'decrypting' || this.state === 'closed') return;
    // Implicit rejection: a ciphertext that does not decrypt to a well-formed secret yields
    // random key material. The handshake proceeds identically and fails at key confirmation.
    this.#respond(
      secret && secret.length === PRE_SECRET_SIZE ? secret : randomSecret(this.random, PRE_SECRET_SIZE),
      LABEL_MASTER,
    );
    secret?.fill(0);
    this.#replayQueued();
  }

  /**
   * Sends the NewTicket (§6a) of a session the application accepted — after its
   * authorization, before any message of the server's — if the client asked for one and
   * the server has ticket keys. Returns whether one was sent. At most once; without a
   * ticket the resumption secret is wiped. Once the server has sent a message record or
   * End, it is too late (§6a's sender rule): false, the secret wiped. Throws like a write
   * (the caller fails the connection).
   */
  issueTicket(): boolean {
    const psk = this.psk;
    this.psk = null;
    if (!psk) return false;
    if (this.state !== 'open' || this.sentClose || this.sentEnd || this.sentMessage || !this.#tickets) {
      psk.fill(0);
      return false;
    }
    const info = {
      suite: this.suite!,
      serverKey: this.#publicKeys[this.#keyIndex]!,
      clientKey: this.#sessionClientKey,
      ...(this.#authTime === undefined ? {} : { authTime: this.#authTime }),
    };
    const payload = issueTicket(this.#tickets, { ...info, psk }, this.random);
    if (payload) this.sendRecord(this.sealer!.seal(RecordType.NewTicket, payload));
    return payload !== null;
  }

  /**
   * Resumes a handshake paused at `verifyClientAuth`: opens the connection if `valid`,
   * else throws the NOT_AUTHORIZED error (the caller fails the connection with it, which
   * sends the encrypted NotAuthorized alert).
   */
  completeVerify(valid: boolean): void {
    if (this.#step !== 'verifying' || this.state === 'closed') return;
    const clientKey = this.#clientKey!;
    this.#clientKey = null;
    if (!valid) throw clientAuthFailed();
    this.#establish(clientKey);
    this.#replayQueued();
  }

  /** Handles the frames that arrived while an RSA operation ran elsewhere. */
  #replayQueued(): void {
    const held = this.#held;
    this.#held = null;
    for (const [type, frame] of held?.take() ?? []) {
      if (this.#isClosed()) return;
      this.onFrame(type, frame);
    }
  }

  #isClosed(): boolean {
    return this.state === 'closed';
  }

  protected plaintextAlertAllowed(code: AlertCode): boolean {
    return (
      code === AlertCode.UnsupportedVersion ||
      code === AlertCode.SuiteMismatch ||
      code === AlertCode.UnknownServerKey ||
      code === AlertCode.HandshakeFailed ||
      code === AlertCode.ServerBusy ||
      code === AlertCode.Timeout
    );
  }

  protected override onFrame(type: number, frame: Buffer): void {
    if (this.#step === 'verifying') {
      // The client is open on its side and may already send records: they wait for the verdict.
      (this.#held ??= new HeldFrames()).hold(
        type,
        frame,
        MAX_QUEUED_VERIFYING,
        'before its key was verified',
      );
    } else if (this.#step === 'decrypting') {
      (this.#held ??= new HeldFrames()).hold(type, frame, MAX_HELD_DECRYPTING, 'before the server replied');
    } else {
      super.onFrame(type, frame);
    }
  }

  protected handshakeRecordRejected(cause: unknown): HandshakeError {
    return new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: client key confirmation failed', { cause });
  }

  protected onHandshakeFrame(type: number, view: Buffer): void {
    // Handshake frames are kept (transcript, hello fields) across the asynchronous RSA step,
    // and the frame may be a view into a buffer the transport reuses: own a copy.
    const frame = Buffer.from(view);
    if (this.#step !== 'awaitHello') {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: unexpected message from client');
    }
    if (type === FrameType.ResumeHello && !this.#keyRequested && !this.#resumeOffered) {
      this.#resumeOffered = true;
      this.#resume(frame);
      return;
    }
    // After a ResumeRefused, only a ClientHello (§6a).
    if (type === FrameType.KeyRequest && !this.#keyRequested && !this.#resumeOffered) {
      decodeKeyRequest(frame);
      this.#keyRequested = true;
      const response = encodeKeyResponse(this.#publicKeys[0]!.toSpkiDer());
      this.#transcript!.push(frame, response);
      this.handler.send(response);
      return;
    }
    if (type !== FrameType.ClientHello) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: unexpected message from client');
    }
    const hello = decodeClientHello(frame, this.#allowedFlags);
    const suite = acceptedSuite(hello.suiteIds, this.#suites);
    const keyIndex = this.#publicKeys.findIndex((k) => k.fingerprintBytes().equals(hello.keyId));
    if (keyIndex < 0) {
      throw new HandshakeError(
        ErrorCode.SERVER_KEY_MISMATCH,
        'handshake: client named a server key this server does not hold',
      );
    }
    this.#transcript!.push(frame);
    this.#hello = hello;
    this.#helloSuite = suite;
    this.#keyIndex = keyIndex;
    this.#step = 'decrypting';
    const handler = this.handler as ServerConnectionHandler;
    if (handler.decryptSecret) {
      handler.decryptSecret({ keyIndex, ciphertext: hello.encryptedSecret });
    } else {
      // Without decryptSecret every key is a PrivateKey (checked by the constructor).
      const key = this.#keys[keyIndex] as PrivateKey;
      this.completeDecrypt(oaepDecrypt(key.keyObject, hello.encryptedSecret));
    }
  }

  /** A ResumeHello (§6a): refused (the client goes on with a ClientHello), or answered at once. */
  #resume(frame: Buffer): void {
    const accepted = readResumeHello(frame, this.#suites, this.#publicKeys, this.#tickets);
    if (!accepted) {
      // The refused exchange is not part of the full handshake's transcript.
      this.handler.send(encodeResumeRefused());
      return;
    }
    this.#transcript!.push(frame);
    this.#hello = accepted.hello;
    this.#helloSuite = accepted.suite;
    this.#keyIndex = accepted.keyIndex;
    this.#authTime = accepted.authTime;
    this.#sessionClientKey = accepted.clientKey;
    this.#respond(accepted.psk, LABEL_RESUMED_MASTER);
  }

  protected onHandshakeRecord(type: number, payload: Buffer): void {
    if (this.#step !== 'awaitFinished' || type !== RecordType.ClientFinished) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: unexpected record from client');
    }
    // The record opened under the c2s keys: the client holds them.
    this.peerHasKeys = true;
    const auth = readClientFinished(payload, this.#wantsAuth, this.#clientKeyAllowed);
    if (!auth) {
      // Resumed: the ticket's client key, still subject to membership (§6a; step 3 of §6).
      const key = this.#sessionClientKey;
      if (key) checkKeyAllowed(key, this.#clientKeyAllowed);
      this.#establish(key);
      return;
    }
    const request: VerifyRequest = {
      key: auth.key,
      message: Buffer.concat([CLIENT_AUTH_CONTEXT, this.#transcriptHash!]),
      signature: auth.signature,
    };
    this.#transcriptHash = null;
    this.#clientKey = auth.key;
    this.#step = 'verifying';
    const handler = this.handler as ServerConnectionHandler;
    if (handler.verifyClientAuth) {
      handler.verifyClientAuth(request);
    } else {
      this.completeVerify(pssVerify(auth.key.keyObject, request.message, request.signature));
    }
  }

  #establish(clientKey: PublicKey | null): void {
    this.#step = 'done';
    this.#transcriptHash = null;
    this.#sessionClientKey = clientKey;
    const serverKey = this.#publicKeys[this.#keyIndex]!;
    // A ResumeHello never carries bit 2 (§6b): its decoder refuses it, so #channels stays false.
    this.open({
      suite: this.#helloSuite!,
      serverKey,
      clientKey,
      resumed: this.#authTime !== undefined,
      channels: this.#channels,
    });
  }

  /**
   * ServerHello and ServerFinished, from `secret`: the pre_secret (`LABEL_MASTER`) or a
   * ticket's psk (`LABEL_RESUMED_MASTER`); wiped here.
   */
  #respond(secret: Buffer, masterLabel: string): void {
    const hello = this.#hello!;
    const suite = this.#helloSuite!;
    const serverRandom = this.random(RANDOM_SIZE);
    const ephemeral = x25519Key(this.#ephemeralPrivate);
    let shared: Buffer;
    try {
      shared = x25519Shared(ephemeral.privateKey, hello.ephemeral);
    } catch (cause) {
      secret.fill(0);
      throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: client sent an invalid ephemeral key', {
        cause,
      });
    }
    const serverHello = encodeServerHello({
      suiteIds: suite.ids,
      random: serverRandom,
      ephemeral: ephemeral.publicRaw,
    });
    const transcript = this.#transcript!;
    transcript.push(serverHello);
    const th = hash(suite.hashName, ...transcript);
    // What the rest of the handshake needs of the hello and the transcript: the flag and the hash.
    this.#wantsAuth = (hello.flags & FLAG_CLIENT_AUTH) !== 0;
    this.#channels = (hello.flags & FLAG_CHANNELS) !== 0;
    this.#transcript = null;
    this.#hello = null;
    // The client asked for a ticket and there are keys to seal one: the psk, until issueTicket().
    const wantPsk = (hello.flags & FLAG_TICKETS) !== 0 && (this.#tickets?.keys.length ?? 0) > 0;
    const keys = handshakeSecrets(
      suite,
      { preSecret: secret, shared, clientRandom: hello.random, serverRandom, transcriptHash: th },
      masterLabel,
      wantPsk,
      this.#keyLog,
    );
    this.psk = keys.psk;
    this.#transcriptHash = th;
    this.suite = suite;
    this.sealer = new RecordSealer(suite, keys.s2c, this.random, this.keyBudget);
    this.opener = new RecordOpener(suite, keys.c2s, this.keyBudget);
    // The client's next record is its ClientFinished: no body longer than the largest one.
    this.recordLimit = maxRecordBody(suite, MAX_CLIENT_FINISHED_PAYLOAD);
    const proof = keys.proof;
    this.exporter = keys.exporter;
    shared.fill(0);
    secret.fill(0);
    this.#step = 'awaitFinished';
    this.handler.send(serverHello);
    this.handler.send(this.sealer.seal(RecordType.ServerFinished, proof));
  }
}
