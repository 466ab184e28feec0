/**
 * The datagram server's handshake pipeline (PROTOCOL.md §D2, §D3), between the socket
 * (datagram-server.ts) and B1's sans-IO machines. For a KeyRequest or Hello, in this
 * order: the stateless gate (cookie, then the ClientHello's cheap checks: answered with a
 * Cookie, a KeyResponse or an Alert, never with state); a handshake already running for
 * the same (source, token) answers a retransmitted Hello (nothing while its RSA runs, the
 * stored ServerHello after); admission (`maxSessions`, `maxHandshakes`,
 * `maxHandshakesPerAddress`, `maxPendingDecrypts`) and the per-source rate refuse with
 * ServerBusy; only then state (server-handshakes.ts) and the RSA decryption, in the
 * worker pool. A Record naming a handshake's conn_id is its ClientFinished: §6's checks
 * (the signature in the pool), then authorization (authorized_keys, the hook), then the
 * session. A handshake that fails is dropped; a client whose ClientFinished opened but was
 * refused (§6's checks, authorization) gets one Alert record, sealed by the handshake, so
 * it fails at once with the reason (§D3); a record that does not open gets nothing.
 *
 * From admission on, each handshake is traced (`secsess:handshake`, observe.ts) when
 * somebody subscribes, and timed for `metrics()` (server-metrics.ts) always.
 */
import type { PrivateKey, PublicKey } from '@secsess/keys';
import type { Suite } from '../protocol/index.js';
import type { CookieJar } from '../protocol/datagram/cookie.js';
import { DatagramHandshakeGate } from '../protocol/datagram/server-gate.js';
import { ErrorCode, SessionError, TimeoutError, oaepDecrypt, pssVerify } from '../protocol/index.js';
import type { ScreenedHello } from '../protocol/datagram/server-gate.js';
import type { DatagramServerHandshake } from '../protocol/datagram/server-handshake.js';
import type { DatagramHandshakeResult } from '../protocol/datagram/handshake-types.js';
import { keyLogFromEnv } from '../observe/keylog.js';
import type { DecryptPool } from '../server/decrypt-pool.js';
import type { HandshakeRate } from '../server/handshake-rate.js';
import { peerInfo } from '../server/authorization.js';
import type { Authorizer } from '../server/authorization.js';
import type { ResolvedDatagramServerOptions } from './datagram-options.js';
import type { DatagramAddress } from './datagram-socket.js';
import { contextOptions } from './session-options.js';
import { HandshakeTable } from './server-handshakes.js';
import type { PendingHandshake } from './server-handshakes.js';
import { kCount } from './server-counters.js';
import type { DatagramCounters, DatagramRefusalLimit } from './server-counters.js';
import type { DatagramMetrics } from './server-metrics.js';
import { startHandshakeTrace } from './observe.js';
import type { ObservedSession } from './observe.js';

type Pending = PendingHandshake<DatagramServerHandshake>;

/** What the pipeline needs from its server. */
export interface HandshakeHost {
  readonly options: ResolvedDatagramServerOptions;
  readonly counters: DatagramCounters;
  readonly metrics: DatagramMetrics;
  readonly authorizer: Authorizer;
  readonly rate: HandshakeRate;
  /** The worker pool, or null with `workers: 0`. */
  readonly pool: DecryptPool | null;
  sessionCount(): number;
  /** Open sessions whose handshake came from `address`'s source. */
  sessionsFrom(address: string): number;
  /** Whether the server has a `'session'` listener to hand a new session to. */
  sessionListened(): boolean;
  listening(): boolean;
  /** The server's address as a label (for the handshake trace). */
  local(): string;
  /** Sends an answer to a handshake packet of `requestSize` bytes (never a larger one). */
  answer(packet: Buffer, requestSize: number, to: DatagramAddress): void;
  /** Sends a record sealed by a handshake that has ended (its one Alert record, §D3). */
  send(packet: Buffer, to: DatagramAddress): void;
  /**
   * A session for `result` at `source` (its ClientFinished's), counted for `origin` (its
   * Hello's), which sends `handshakeDone` (the handshake sealed it) first. Its `state` is
   * not `'open'` if it was closed at once (nobody listens to `'session'`).
   */
  open(
    result: DatagramHandshakeResult,
    handshakeDone: Buffer,
    source: DatagramAddress,
    origin: DatagramAddress,
  ): ObservedSession & { readonly state: string };
  refused(limit: DatagramRefusalLimit, source: DatagramAddress): void;
  handshakeError(error: SessionError, source: DatagramAddress): void;
}

export class ServerHandshaking {
  readonly #host: HandshakeHost;
  readonly #gate: DatagramHandshakeGate;
  readonly #keys: readonly PrivateKey[];
  readonly #table: HandshakeTable<DatagramServerHandshake>;

  /**
   * The pipeline of a server that holds `keys`, accepts `suites` (default: all) and checks
   * cookies with `cookies`; `sessionHas(connId)`: whether an open session has that conn_id
   * (latin1 key), so that a new handshake draws another.
   */
  constructor(
    host: HandshakeHost,
    keys: readonly PrivateKey[],
    suites: Suite[] | undefined,
    cookies: CookieJar,
    sessionHas: (connId: string) => boolean,
  ) {
    this.#host = host;
    this.#keys = keys;
    this.#gate = new DatagramHandshakeGate({
      keys,
      ...(suites ? { suites } : {}),
      cookies,
      clientKeyAllowed: (key: PublicKey) => host.authorizer.allows(key),
      handshakeTimeout: host.options.handshakeTimeout,
      context: contextOptions(host.options.session),
      connectionIdInUse: (id) => {
        const key = id.toString('latin1');
        return sessionHas(key) || this.#table.hasConnId(key);
      },
    });
    this.#table = new HandshakeTable<DatagramServerHandshake>(
      host.options,
      host.options.handshakeTimeout,
      (h) => {
        h.machine.destroy();
        host.counters[kCount]('handshakeTimeouts');
        h.trace?.fail(new TimeoutError('handshake', host.options.handshakeTimeout));
      },
      host.options.maxSessions,
    );
  }

  /** Handshakes holding state. */
  get size(): number {
    return this.#table.size;
  }

  /** Whether a conn_id (latin1 key) is taken by a handshake in progress. */
  hasConnId(connId: string): boolean {
    return this.#table.hasConnId(connId);
  }

  /** The handshake that replied with `connId` (latin1 key), if any. */
  byConnId(connId: string): Pending | undefined {
    return this.#table.byConnId(connId);
  }

  /** Drops every handshake (the server stops). */
  clear(): void {
    for (const h of this.#table.clear()) {
      h.machine.destroy();
      h.trace?.fail(new SessionError(ErrorCode.SESSION_CLOSED, 'handshake: the server is stopping'));
    }
  }

  /** A KeyRequest or Hello packet from `source`. */
  onPacket(packet: Buffer, source: DatagramAddress): void {
    const gate = this.#gate;
    const screened = gate.screen(packet, source);
    switch (screened.kind) {
      case 'drop':
        this.#host.counters[kCount]('dropped');
        return;
      case 'reply':
        if (screened.what === 'cookie') this.#host.counters[kCount]('cookies');
        else if (screened.what === 'keyResponse') this.#host.counters[kCount]('keyResponses');
        else {
          this.#host.counters[kCount]('alerts');
          if (screened.error) this.#host.handshakeError(screened.error, source);
        }
        this.#host.answer(screened.packet, packet.length, source);
        return;
      case 'hello':
        this.#onHello(screened.hello, source);
        return;
    }
  }

  #onHello(hello: ScreenedHello, source: DatagramAddress): void {
    const existing = this.#table.bySource(hello.id);
    if (existing) {
      const again = existing.machine.repeatHello(hello);
      if (again) this.#host.answer(again, hello.packetSize, source);
      return;
    }
    // A late copy of the Hello of a handshake that has ended: not a new handshake.
    if (this.#table.recentlyEnded(hello.id)) return;
    const limit = this.#admit(source);
    if (limit) {
      this.#host.counters[kCount]('refused');
      this.#host.answer(this.#gate.refuse(hello), hello.packetSize, source);
      this.#host.refused(limit, source);
      return;
    }
    // Traced from here: the Hello passed admission (refusals are `secsess:server:refused`).
    const trace = startHandshakeTrace('server', this.#host.local, source);
    const allowed = this.#host.authorizer.allowsFrom(source.address, source.port, 'datagram');
    const accepted = this.#gate.acceptHello(hello, performance.now(), keyLogFromEnv(), allowed);
    if (accepted.kind === 'refuse') {
      this.#host.counters[kCount]('alerts');
      this.#host.answer(accepted.packet, hello.packetSize, source);
      trace?.fail(accepted.error);
      this.#host.handshakeError(accepted.error, source);
      return;
    }
    const machine = accepted.handshake;
    const pending = this.#table.add(source, hello.id, machine);
    pending.trace = trace;
    this.#host.counters[kCount]('decrypts');
    this.#decrypt(pending, hello.packetSize);
  }

  /**
   * The limit that refuses a Hello now, or null. No `'session'` listener first (its session
   * would be closed at once: no RSA for that), the caps next, then the rate: a token is
   * taken only by a Hello that goes on to RSA.
   */
  #admit(source: DatagramAddress): DatagramRefusalLimit | null {
    const o = this.#host.options;
    if (!this.#host.sessionListened()) return 'noListener';
    if (this.#host.sessionCount() + this.#table.size >= o.maxSessions) return 'maxSessions';
    // Its handshakes in progress count too: each may become a session.
    const fromSource = this.#host.sessionsFrom(source.address) + this.#table.countFrom(source.address);
    if (fromSource >= o.maxSessionsPerAddress) return 'maxSessionsPerAddress';
    const admission = this.#table.admit(source.address);
    if (!admission.admitted) return admission.limit as DatagramRefusalLimit;
    if (this.#host.pool && this.#host.pool.pending >= o.maxPendingDecrypts) return 'maxPendingDecrypts';
    if (!this.#host.rate.take(source.address)) return 'handshakeRate';
    return null;
  }

  #decrypt(pending: Pending, helloSize: number): void {
    const machine = pending.machine;
    const request = machine.decryptRequest;
    const pool = this.#host.pool;
    const decrypted = pool
      ? pool.decrypt(request.keyIndex, request.ciphertext)
      : Promise.resolve(oaepDecrypt(this.#keys[request.keyIndex]!.keyObject, request.ciphertext));
    decrypted.then(
      (secret) => {
        if (pending.ended) {
          secret?.fill(0);
          return;
        }
        let reply: Buffer;
        try {
          reply = machine.completeDecrypt(secret);
        } catch (err) {
          this.#fail(pending, err);
          return;
        }
        this.#table.replied(pending, machine.connectionId.toString('latin1'));
        this.#host.answer(reply, helloSize, pending.source);
      },
      (err: unknown) => this.#fail(pending, err),
    );
  }

  /** A Record packet naming a handshake's conn_id: its ClientFinished (or a stray record). */
  onRecord(pending: Pending, packet: Buffer, source: DatagramAddress): void {
    const machine = pending.machine;
    let step;
    try {
      step = machine.receiveRecord(packet, performance.now());
    } catch (err) {
      this.#fail(pending, err);
      return;
    }
    if (step.kind === 'drop') return;
    if (step.kind === 'authorize') {
      void this.#authorize(pending, step.clientKey, source);
      return;
    }
    const pool = this.#host.pool;
    const verified = pool
      ? pool.verify(step.request.key.keyObject, step.request.message, step.request.signature)
      : Promise.resolve(null);
    verified.then(
      (valid) => {
        if (pending.ended) return;
        let next;
        try {
          // Without a pool the machine verifies in place (a 65537-exponent check, ~0.06 ms).
          next =
            valid === null
              ? machine.completeVerify(verifyInline(step.request))
              : machine.completeVerify(valid);
        } catch (err) {
          this.#fail(pending, err);
          return;
        }
        if (next.kind === 'authorize') void this.#authorize(pending, next.clientKey, source);
      },
      (err: unknown) => this.#fail(pending, err),
    );
  }

  /** §6 step 5: authorized_keys after a reload, and the hook; then the session. */
  async #authorize(pending: Pending, clientKey: PublicKey | null, source: DatagramAddress): Promise<void> {
    const machine = pending.machine;
    if (this.#host.authorizer.enabled) {
      const serverKey = this.#keys[machine.decryptRequest.keyIndex]?.publicKey ?? null;
      const denial = await this.#host.authorizer.check(
        peerInfo({ serverKey, clientKey }, source.address, source.port),
        this.#host.options.handshakeTimeout,
        'datagram',
      );
      if (pending.ended) return;
      if (denial !== null) {
        machine.deny();
        this.#fail(pending, new SessionError(ErrorCode.NOT_AUTHORIZED, `client not authorized: ${denial}`));
        return;
      }
    }
    if (pending.ended || !this.#host.listening()) return;
    let accepted;
    try {
      accepted = machine.accept();
    } catch (err) {
      this.#fail(pending, err);
      return;
    }
    this.#table.delete(pending);
    // accept() sealed the HandshakeDone (s2c seq 1): the session sends it, re-answers a
    // repeated ClientFinished with new ones, and goes on from seq 2.
    // (Not inside `trace?.done(…)`: without a trace, optional chaining would skip the open.)
    const session = this.#host.open(accepted.result, accepted.handshakeDone, source, pending.source);
    if (session.state !== 'open') {
      // Closed at once, for want of a 'session' listener: never handed on, so not a success.
      pending.trace?.fail(new SessionError(ErrorCode.SESSION_CLOSED, 'no session listener'));
      this.#host.metrics.failed(ErrorCode.SESSION_CLOSED);
      return;
    }
    pending.trace?.done(session);
    // Its Hello was admitted a handshake timeout before its deadline.
    this.#host.metrics.succeeded(performance.now() - pending.deadline + this.#host.options.handshakeTimeout);
  }

  /**
   * Ends a handshake that failed: drops its state and reports it. A client whose
   * ClientFinished opened gets the one Alert record the machine sealed (§D3); nothing else
   * is ever answered after RSA.
   */
  #fail(pending: Pending, err: unknown): void {
    if (!this.#table.delete(pending)) return;
    const refusal = pending.machine.refusal;
    pending.machine.destroy();
    const error =
      err instanceof SessionError
        ? err
        : new SessionError(ErrorCode.HANDSHAKE, `handshake: ${(err as Error)?.message ?? String(err)}`);
    pending.trace?.fail(error);
    if (!this.#host.listening()) return;
    if (refusal) {
      this.#host.counters[kCount]('alerts');
      this.#host.send(refusal, pending.source);
    }
    this.#host.handshakeError(error, pending.source);
  }
}

/** A client signature checked on the main thread (no worker pool). */
function verifyInline(request: { key: PublicKey; message: Buffer; signature: Buffer }): boolean {
  return pssVerify(request.key.keyObject, request.message, request.signature);
}
