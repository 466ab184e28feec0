/**
 * Keys as the API accepts them: key objects from @secsess/keys, or paths to key files
 * (loaded when the server starts or the client connects). Types are checked at once.
 */
import { PrivateKey, PublicKey } from '@secsess/keys';
import { resolveSuite } from '../protocol/index.js';
import type { AlgorithmSet, Suite } from '../protocol/index.js';

/**
 * An encrypted private key file and where its passphrase comes from: `passphrase()` is
 * called each time the file is read (at start, and again by a server's `reloadKeys()`), so
 * the passphrase need not be kept. A Buffer it returns is wiped once the key is decrypted:
 * return a fresh one each call (one kept and returned again would be zeros the next time).
 */
export interface PrivateKeyFile {
  readonly path: string;
  readonly passphrase: () => string | Buffer | Promise<string | Buffer>;
}

/**
 * A private key, the path of a private key file (mode 0600), or an encrypted key file with
 * its passphrase ({@link PrivateKeyFile}).
 */
export type PrivateKeyInput = PrivateKey | string | PrivateKeyFile;

function isKeyFile(k: unknown): k is PrivateKeyFile {
  if (typeof k !== 'object' || k === null) return false;
  const f = k as { path?: unknown; passphrase?: unknown };
  return typeof f.path === 'string' && f.path.length > 0 && typeof f.passphrase === 'function';
}

async function loadKeyFile(file: PrivateKeyFile): Promise<PrivateKey> {
  const passphrase = await file.passphrase();
  try {
    return await PrivateKey.load(file.path, { passphrase });
  } finally {
    if (Buffer.isBuffer(passphrase)) passphrase.fill(0);
  }
}
/** A public key or the path of a public key file. */
export type PublicKeyInput = PublicKey | string;

/** Checks the shape of a server's key argument; returns it as a non-empty array. */
export function checkPrivateKeys(
  input: PrivateKeyInput | readonly PrivateKeyInput[],
  name = 'privateKey',
): readonly PrivateKeyInput[] {
  const list = Array.isArray(input) ? (input as readonly PrivateKeyInput[]) : [input as PrivateKeyInput];
  if (list.length === 0) throw new TypeError(`${name} must not be an empty array`);
  for (const k of list) {
    if (!(k instanceof PrivateKey) && !(typeof k === 'string' && k.length > 0) && !isKeyFile(k)) {
      throw new TypeError(
        `${name} must be a PrivateKey, a key file path, { path, passphrase }, or an array of them`,
      );
    }
  }
  return list;
}

/** Loads every file in `list`; keys already loaded are kept as they are. */
export async function loadPrivateKeys(list: readonly PrivateKeyInput[]): Promise<PrivateKey[]> {
  return Promise.all(
    list.map((k) =>
      typeof k === 'string' ? PrivateKey.load(k) : k instanceof PrivateKey ? k : loadKeyFile(k),
    ),
  );
}

export function checkPublicKey(input: PublicKeyInput, name = 'publicKey'): PublicKeyInput {
  if (!(input instanceof PublicKey) && !(typeof input === 'string' && input.length > 0)) {
    throw new TypeError(`${name} must be a PublicKey or a key file path`);
  }
  return input;
}

export async function loadPublicKey(input: PublicKeyInput): Promise<PublicKey> {
  return typeof input === 'string' ? PublicKey.load(input) : input;
}

/** A server's accepted sets: one set, several, or undefined for every supported suite. */
export function resolveSuites(set: AlgorithmSet | readonly AlgorithmSet[] | undefined): Suite[] | undefined {
  if (set === undefined) return undefined;
  const list = Array.isArray(set) ? (set as readonly AlgorithmSet[]) : [set as AlgorithmSet];
  if (list.length === 0) throw new TypeError('set must not be an empty array');
  return list.map((s) => resolveSuite(s));
}
