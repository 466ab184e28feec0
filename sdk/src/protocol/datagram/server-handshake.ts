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
 *                  no  → hs.destroy(), send nothing
 *   receiveRecord / completeVerify throw a SessionError (ERR_HANDSHAKE, ERR_NOT_AUTHORIZED,
 *   ERR_CLIENT_KEY_UNSUPPORTED) when the ClientFinished is refused: the transport drops
 *   the handshake (hs.destroy()) and answers nothing (§D3), reporting the error locally.
 *   Timeout: drop the handshake (destroy) once `now >= hs.deadline` without accept().
 */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import type { DecryptRequest, VerifyRequest } from '../server-connection.js';
import type { PacketSource } from './cookie.js';
import type { DatagramHandshakeResult } from './handshake-types.js';
import type { ScreenedHello } from './server-gate.js';

export type { DecryptRequest, VerifyRequest };

export type ServerRecordStep =
  | { readonly kind: 'drop' }
  | { readonly kind: 'verify'; readonly request: VerifyRequest }
  | { readonly kind: 'authorize'; readonly clientKey: PublicKey | null };

export type ServerHandshakeState = 'decrypting' | 'awaitFinished' | 'verifying' | 'authorizing' | 'done' | 'failed';

export class DatagramServerHandshake {
  /** @internal made by DatagramHandshakeGate.acceptHello */
  private constructor() {
    throw new Error('not implemented');
  }

  /** (source, token), as ScreenedHello.id. */
  get id(): string {
    throw new Error('not implemented');
  }
  get source(): PacketSource {
    throw new Error('not implemented');
  }
  /** The session's conn_id (8 bytes, fresh): route Record packets carrying it here. */
  get connectionId(): Buffer {
    throw new Error('not implemented');
  }
  /** When the handshake times out (the clock of `now` given to acceptHello). */
  get deadline(): number {
    throw new Error('not implemented');
  }
  get state(): ServerHandshakeState {
    throw new Error('not implemented');
  }
  /** The RSA-OAEP decryption to run: `keys[keyIndex]` over `ciphertext`. */
  get decryptRequest(): DecryptRequest {
    throw new Error('not implemented');
  }

  /** Runs the decryption in place (keys[keyIndex] must be a PrivateKey) and completes it. */
  decryptLocally(): Buffer {
    throw new Error('not implemented');
  }

  /**
   * The decryption finished: `secret` is the plaintext, or null on any failure. Derives
   * the keys and returns the ServerHello packet (ServerFinished inside) to send to
   * `source`, kept for resends. The core wipes `secret`. Once only (ERR_INVALID_STATE).
   */
  completeDecrypt(secret: Buffer | null): Buffer {
    void secret;
    throw new Error('not implemented');
  }

  /** A Hello with this (source, token) again: the stored ServerHello (≤ 3 times), else null. */
  repeatHello(hello: ScreenedHello): Buffer | null {
    void hello;
    throw new Error('not implemented');
  }

  /** A Record packet naming this handshake's conn_id (from any address). */
  receiveRecord(packet: Buffer, now: number): ServerRecordStep {
    void packet;
    void now;
    throw new Error('not implemented');
  }

  /** The signature check of a 'verify' step finished. Throws ERR_NOT_AUTHORIZED if not valid. */
  completeVerify(valid: boolean): ServerRecordStep {
    void valid;
    throw new Error('not implemented');
  }

  /**
   * The client is accepted: returns the session's contexts and peer info, and the
   * HandshakeDone Record packet to send. Only after 'authorize'.
   */
  accept(): { readonly result: DatagramHandshakeResult; readonly handshakeDone: Buffer } {
    throw new Error('not implemented');
  }

  /** Drops the handshake: wipes its keys. */
  destroy(): void {
    throw new Error('not implemented');
  }
}
