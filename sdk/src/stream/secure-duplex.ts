/**
 * Any transport: run a secsess session over any Duplex whose writes reach the peer and
 * whose reads come from it — a TCP socket, a child process's stdio, an in-memory pair, a
 * WebSocket stream. The session is the ciphertext side; the application sees plaintext
 * messages.
 */
import type { Duplex } from 'node:stream';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import type { AlgorithmSet } from '../protocol/index.js';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import {
  checkPrivateKeys,
  checkPublicKey,
  loadPrivateKeys,
  loadPublicKey,
  resolveSuites,
} from '../common/key-input.js';
import { resolveSessionOptions } from '../common/options.js';
import type { SessionOptions } from '../common/options.js';
import { Session, kReady } from './session.js';

/** `secureDuplex()` as the client: the side that knows the server's public key. */
export interface SecureClientOptions extends SessionOptions {
  readonly role: 'client';
  /** The server's public key, or the path of its public key file. */
  readonly serverKey: PublicKey | string;
  /** The algorithm set. Default RSA / AES-256-CBC / SHA-256. */
  readonly set?: AlgorithmSet;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /** Aborts the handshake (the promise rejects with ERR_ABORTED, the duplex is destroyed). */
  readonly signal?: AbortSignal;
}

/** `secureDuplex()` as the server: the side holding the private key(s). */
export interface SecureServerOptions extends SessionOptions {
  readonly role: 'server';
  /** The private key(s) or key file path(s); several during a key rotation. */
  readonly keys: PrivateKey | string | readonly (PrivateKey | string)[];
  /** The accepted set(s). Default: every supported suite. */
  readonly set?: AlgorithmSet | readonly AlgorithmSet[];
  /** Aborts the handshake (the promise rejects with ERR_ABORTED, the duplex is destroyed). */
  readonly signal?: AbortSignal;
}

export type SecureDuplexOptions = SecureClientOptions | SecureServerOptions;

/**
 * Runs the handshake over `duplex` and resolves with the open session. The server role
 * decrypts on the calling thread (a {@link Server} uses its worker pool instead). On
 * failure the promise rejects with the coded error and the duplex is ended or destroyed.
 *
 * @throws TypeError for a missing/wrong `role`, key or option (as a rejection).
 */
export async function secureDuplex(duplex: Duplex, options: SecureDuplexOptions): Promise<Session> {
  if (!isDuplex(duplex)) throw new TypeError('duplex must be a Duplex stream');
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const signal = checkSignal(options.signal, 'options.signal');
  const sessionOptions = resolveSessionOptions(options);
  let session: Session;
  if (options.role === 'client') {
    const serverKey = await loadPublicKey(checkPublicKey(options.serverKey, 'options.serverKey'));
    session = new Session(
      duplex,
      {
        role: 'client',
        connection: { serverKey, set: options.set ?? {}, maxFragmentSize: options.maxFragmentSize },
      },
      sessionOptions,
    );
  } else if (options.role === 'server') {
    const suites = resolveSuites(options.set);
    const keys = await loadPrivateKeys(checkPrivateKeys(options.keys, 'options.keys'));
    session = new Session(duplex, { role: 'server', connection: { keys, suites } }, sessionOptions);
  } else {
    throw new TypeError("options.role must be 'client' or 'server'");
  }
  return establish(session, signal);
}

/** @internal Waits for the session's handshake; `signal` aborts it. */
export async function establish(session: Session, signal: AbortSignal | undefined): Promise<Session> {
  if (signal?.aborted) {
    session.destroy();
    throw abortError('handshake', signal);
  }
  let cleanup = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    cleanup = onAbort(signal, () => {
      reject(abortError('handshake', signal!));
      session.destroy();
    });
  });
  try {
    await Promise.race([session[kReady], aborted]);
    return session;
  } finally {
    cleanup();
  }
}

function isDuplex(value: unknown): value is Duplex {
  const d = value as Duplex | null;
  return (
    d !== null &&
    typeof d === 'object' &&
    typeof d.write === 'function' &&
    typeof d.end === 'function' &&
    typeof d.on === 'function' &&
    typeof d.pause === 'function' &&
    typeof d.resume === 'function'
  );
}
