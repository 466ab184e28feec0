/**
 * The server's first look at handshake packets (PROTOCOL.md §D2, §D3), stateless and
 * without RSA. One gate per server. How a transport drives it, per UDP packet whose first
 * byte is a handshake type (Record packets go by conn_id to a handshake or a session):
 *
 *   const s = gate.screen(packet, source);
 *   'drop'   send nothing (garbage, a client-bound type, a Hello too small to answer, …)
 *   'reply'  send s.packet to source: a Cookie (cookie absent or stale: no state, 33 bytes),
 *            a KeyResponse (KeyRequest with a valid cookie), or an Alert (the ClientHello
 *            was refused: s.error says why, for the server's log)
 *   'hello'  a Hello with a valid cookie whose ClientHello passed preamble, structure,
 *            suite and key_id (§2 "Parsing" steps 1–4). Then, in this order:
 *       1. a handshake for s.hello.id (source and token) exists → send what
 *          `existing.repeatHello(s.hello)` returns, if anything; stop (no rate, no RSA)
 *       2. rate limit per source (HandshakeRate), then admission (maxHandshakes,
 *          maxSessions); refused → send gate.refuse(s.hello) (Alert ServerBusy); stop
 *       3. const a = gate.acceptHello(s.hello, now): 'refuse' → send a.packet; 'handshake'
 *          → keep a.handshake under s.hello.id and under a.handshake.connectionId, and run
 *          its RSA step (server-handshake.ts)
 *
 * Every answer goes only to the packet's source, is smaller than the packet it answers
 * (checked here: a Hello too small for its ServerHello is dropped before any RSA), and
 * only a source whose cookie verified gets anything but a Cookie.
 */
import type { Buffer } from 'node:buffer';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import type { AlertCode } from '../constants.js';
import type { HandshakeError } from '../errors.js';
import type { ClientHello } from '../handshake-messages.js';
import type { Suite } from '../suite.js';
import type { CookieJar, PacketSource } from './cookie.js';
import type { HandshakeContextOptions, HandshakeTestInputs } from './handshake-types.js';
import type { DatagramServerHandshake } from './server-handshake.js';

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

export class DatagramHandshakeGate {
  /** @throws TypeError for missing or wrong keys or cookies. */
  constructor(options: DatagramServerHandshakeOptions) {
    void options;
    throw new Error('not implemented');
  }

  /** The first look at a handshake packet from `source`: stateless, no RSA. */
  screen(packet: Buffer, source: PacketSource): Screened {
    void packet;
    void source;
    throw new Error('not implemented');
  }

  /**
   * Admits a screened Hello (call after the rate limit and admission): draws conn_id,
   * server_random and the X25519 key, and returns the handshake, whose RSA step is next.
   * `now` starts its handshake timeout.
   */
  acceptHello(hello: ScreenedHello, now: number): Accepted {
    void hello;
    void now;
    throw new Error('not implemented');
  }

  /** The Alert packet refusing `hello` with `code` (default ServerBusy), 19 bytes. */
  refuse(hello: ScreenedHello, code?: AlertCode): Buffer {
    void hello;
    void code;
    throw new Error('not implemented');
  }
}
