/**
 * Keys as the API accepts them: key objects from @secsess/keys, or paths to key files
 * (loaded when the server starts or the client connects). Types are checked at once.
 */
import { PrivateKey, PublicKey } from '@secsess/keys';
import { resolveSuite } from '../protocol/index.js';
import type { AlgorithmSet, Suite } from '../protocol/index.js';

/** A private key or the path of a private key file (unencrypted, mode 0600). */
export type PrivateKeyInput = PrivateKey | string;
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
    if (!(k instanceof PrivateKey) && !(typeof k === 'string' && k.length > 0)) {
      throw new TypeError(`${name} must be a PrivateKey, a key file path, or an array of them`);
    }
  }
  return list;
}

/** Loads every path in `list`; keys already loaded are kept as they are. */
export async function loadPrivateKeys(list: readonly PrivateKeyInput[]): Promise<PrivateKey[]> {
  return Promise.all(list.map((k) => (typeof k === 'string' ? PrivateKey.load(k) : k)));
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
