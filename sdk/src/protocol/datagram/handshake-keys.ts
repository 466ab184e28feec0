/**
 * The key material both sides of a datagram handshake compute (PROTOCOL.md §D3):
 *
 *   th           = H(ClientHello frame ‖ ServerHello frame ‖ conn_id)
 *   master       = HKDF(pre_secret ‖ shared, client_random ‖ server_random,
 *                       "secsess v1 dgram master" ‖ th, Hlen)
 *   c2s_0, s2c_0 = HKDF(master, "", "secsess v1 dgram c2s" / "… s2c", Hlen)
 *   server_proof = HMAC(HKDF(master, "", "secsess v1 server finished", Hlen), th)
 *
 * and the record contexts made from them.
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { PublicKey } from '@secsess/keys';
import { hash, hmac } from '../crypto.js';
import { ErrorCode, HandshakeError } from '../errors.js';
import { DGRAM_LABELS, logSecrets } from '../key-log.js';
import type { KeyLog } from '../key-log.js';
import { serverFinishedKey } from '../key-schedule.js';
import type { Suite } from '../suite.js';
import { DatagramInbound, DatagramOutbound } from './contexts.js';
import type { DatagramContextOptions } from './contexts.js';
import { LABEL_DGRAM_CLIENT_AUTH } from './constants.js';
import type { HandshakeContextOptions } from './handshake-types.js';
import { datagramMaster, datagramTrafficSecrets } from './key-schedule.js';

/** "secsess v1 dgram client auth\0": what a datagram client signature signs before `th`. */
export const DGRAM_CLIENT_AUTH_CONTEXT = Buffer.from(LABEL_DGRAM_CLIENT_AUTH, 'ascii');

export interface HandshakeSecrets {
  readonly th: Buffer;
  readonly proof: Buffer;
  readonly c2s: Buffer;
  readonly s2c: Buffer;
}

export function transcriptHash(
  suite: Suite,
  clientHello: Buffer,
  serverHello: Buffer,
  connectionId: Buffer,
): Buffer {
  return hash(suite.hashName, clientHello, serverHello, connectionId);
}

/**
 * th, the server proof and both traffic secrets. Wipes `preSecret`, `shared` and master.
 * With `keyLog`, the traffic secrets are handed to it (PROTOCOL.md "Key log format").
 */
export function handshakeSecrets(
  suite: Suite,
  i: {
    preSecret: Buffer;
    shared: Buffer;
    clientRandom: Buffer;
    serverRandom: Buffer;
    clientHello: Buffer;
    serverHello: Buffer;
    connectionId: Buffer;
  },
  keyLog?: KeyLog,
): HandshakeSecrets {
  const th = transcriptHash(suite, i.clientHello, i.serverHello, i.connectionId);
  const master = datagramMaster(suite, {
    preSecret: i.preSecret,
    shared: i.shared,
    clientRandom: i.clientRandom,
    serverRandom: i.serverRandom,
    transcriptHash: th,
  });
  i.preSecret.fill(0);
  i.shared.fill(0);
  const finishedKey: KeyObject = serverFinishedKey(suite, master);
  const { c2s, s2c } = datagramTrafficSecrets(suite, master);
  master.fill(0);
  logSecrets(keyLog, DGRAM_LABELS, i.clientRandom, c2s, s2c);
  return { th, proof: hmac(suite.hashName, finishedKey, th), c2s, s2c };
}

/** The context options of a session with this suite and conn_id. */
export function contextOptions(
  suite: Suite,
  connectionId: Buffer,
  context: HandshakeContextOptions | undefined,
  random: DatagramContextOptions['random'],
): DatagramContextOptions {
  return {
    ...context,
    set: { asymmetric: suite.asymmetric, symmetric: suite.symmetric, hash: suite.hash },
    connectionId,
    ...(random ? { random } : {}),
  };
}

/** Both record contexts of one side. The secrets are copied by the contexts and wiped here. */
export function makeContexts(
  secrets: HandshakeSecrets,
  role: 'client' | 'server',
  options: DatagramContextOptions,
): { outbound: DatagramOutbound; inbound: DatagramInbound } {
  try {
    return role === 'client'
      ? {
          outbound: new DatagramOutbound(secrets.c2s, options),
          inbound: new DatagramInbound(secrets.s2c, options),
        }
      : {
          outbound: new DatagramOutbound(secrets.s2c, options),
          inbound: new DatagramInbound(secrets.c2s, options),
        };
  } finally {
    secrets.c2s.fill(0);
    secrets.s2c.fill(0);
  }
}

/** The key a KeyResponse carries, if it is a usable RSA public key (else ERR_HANDSHAKE). */
export function serverKeyFromSpki(keyObject: KeyObject | null): PublicKey {
  try {
    if (!keyObject) throw new Error('not SPKI');
    return PublicKey.fromKeyObject(keyObject);
  } catch (cause) {
    throw new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: server sent an unusable public key', { cause });
  }
}

/** A ClientFinished payload (§6) with the datagram signature label. */
export function encodeClientFinished(spki: Buffer | null, signature: Buffer | null): Buffer {
  if (!spki || !signature) return Buffer.of(0);
  const out = Buffer.allocUnsafe(5 + spki.length + signature.length);
  out[0] = 0x01;
  out.writeUInt16BE(spki.length, 1);
  spki.copy(out, 3);
  out.writeUInt16BE(signature.length, 3 + spki.length);
  signature.copy(out, 5 + spki.length);
  return out;
}
