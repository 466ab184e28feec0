/**
 * Hostile client authentication for the adversarial tests: a real client core that, once
 * the server's Finished arrives, sends a ClientFinished carrying whatever key and
 * signature the test chose (PROTOCOL.md §6: flags 0x01 ‖ u16 len ‖ SPKI DER ‖ u16 len ‖
 * signature), sealed under the real session keys, over a raw socket to a real server.
 * And the crafted keys: huge public exponents, moduli outside 2048–4096 bits.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import type { PublicKey } from '@secsess/keys';
import { ClientConnection, SessionError } from '../../src/protocol/index.js';
import type { ConnectionHandler } from '../../src/protocol/index.js';
import { RecordType } from '../../src/protocol/constants.js';
import { rawFrom } from './attackers.js';
import { fixtureKeys } from './keys.js';

/** The ClientFinished payload announcing client authentication with `spki` and `signature`. */
export function clientFinishedPayload(spki: Buffer, signature: Buffer): Buffer {
  const out = Buffer.alloc(1 + 2 + spki.length + 2 + signature.length);
  out[0] = 0x01;
  out.writeUInt16BE(spki.length, 1);
  spki.copy(out, 3);
  out.writeUInt16BE(signature.length, 3 + spki.length);
  signature.copy(out, 5 + spki.length);
  return out;
}

/** A client core whose ClientFinished is `payload`, whatever the handshake was. */
class ForgingClient extends ClientConnection {
  readonly #payload: Buffer;
  readonly #server: PublicKey;

  constructor(handler: ConnectionHandler, serverKey: PublicKey, payload: Buffer) {
    // Any client key: it only makes the ClientHello announce client authentication.
    super(handler, { serverKey, clientKey: fixtureKeys('client-2048').privateKey });
    this.#payload = payload;
    this.#server = serverKey;
  }

  protected override onHandshakeRecord(type: number, payload: Buffer): void {
    if (type !== RecordType.ServerFinished || payload.length === 0) {
      throw new Error('forging client: expected the ServerFinished');
    }
    this.handler.send(this.sealer!.seal(RecordType.ClientFinished, this.#payload));
    this.open({
      suite: this.suite!,
      serverKey: this.#server,
      clientKey: null,
      resumed: false,
      channels: false,
    });
  }
}

/**
 * Connects to 127.0.0.1:`port`, completes the handshake with `payload` as ClientFinished
 * and reads until the server ends the connection. Resolves with the error code the client
 * core reported (e.g. ERR_NOT_AUTHORIZED from the encrypted alert), or 'open' if the
 * server kept the session (it is then closed by the client).
 */
export async function forgedClientAuth(
  port: number,
  payload: Buffer,
  serverKey: PublicKey = fixtureKeys().publicKey,
): Promise<string> {
  const socket = await rawFrom(port);
  let result: string | null = null;
  const conn = new ForgingClient(
    {
      send: (d) => socket.write(d),
      established: () => {},
      message: () => {},
      peerClosed: () => {},
    },
    serverKey,
    payload,
  );
  socket.on('data', (chunk: Buffer) => {
    if (result !== null) return;
    try {
      conn.receive(chunk);
    } catch (err) {
      result = err instanceof SessionError ? err.code : `uncoded: ${(err as Error).message}`;
      socket.destroy();
    }
  });
  const closed = once(socket, 'close');
  conn.start();
  // The server may keep an open session (it accepted the key): give it a moment, then end.
  const timer = setTimeout(() => {
    result ??= 'open';
    socket.destroy();
  }, 5000);
  await closed;
  clearTimeout(timer);
  return result ?? 'closed without an alert';
}

/** A ClientFinished payload whose signature is `signatureLength` random bytes below the modulus. */
export function junkSignature(spki: Buffer, signatureLength: number): Buffer {
  const signature = randomBytes(signatureLength);
  if (signatureLength > 0) signature[0] = 0;
  return clientFinishedPayload(spki, signature);
}

/** The SPKI DER of `key`. */
export function spkiOf(key: KeyObject | PublicKey): Buffer {
  const keyObject = 'keyObject' in key ? key.keyObject : key;
  return keyObject.export({ type: 'spki', format: 'der' });
}

/**
 * The modulus of `base` with a public exponent of `exponentBits` bits (odd, below the
 * modulus): verifying a signature costs about `exponentBits` modular squarings.
 */
export function hugeExponentKey(base: PublicKey, exponentBits: number): KeyObject {
  const jwk = base.keyObject.export({ format: 'jwk' });
  const e = randomBytes(Math.ceil(exponentBits / 8));
  const top = exponentBits % 8 || 8;
  e[0] = (e[0]! & ((1 << top) - 1)) | (1 << (top - 1));
  e[e.length - 1]! |= 1;
  return createPublicKey({ key: { ...jwk, e: e.toString('base64url') }, format: 'jwk' });
}

/** An RSA public key of `bits` bits with exponent 65537 (a random odd modulus: parsed, never used). */
export function modulusKey(bits: number): KeyObject {
  const n = randomBytes(bits / 8);
  n[0]! |= 0x80;
  n[n.length - 1]! |= 1;
  return createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }, format: 'jwk' });
}

/** A real RSA key pair of `bits` bits with `publicExponent` (small sizes only: generated now). */
export function smallKeyPair(
  bits: number,
  publicExponent = 65537,
): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: bits, publicExponent });
}
