import { loadKey, PrivateKey } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import { readPassphraseFile } from '../passphrase.js';

/**
 * The public key of any key file `loadKey` reads: a public key as it is, a private key's
 * public half (with the same permission check and passphrase handling as everywhere else).
 */
export async function readPublicKey(path: string, passphraseFile: string | undefined): Promise<PublicKey> {
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const key = await loadKey(path, { passphrase });
  return key instanceof PrivateKey ? key.publicKey : key;
}
