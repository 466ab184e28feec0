import { AuthorizedKeys, PrivateKey } from '@secsess/keys';
import type { PublicKey, SkippedAuthorizedKey } from '@secsess/keys';
import { openKeyArg } from '../key-input.js';
import type { KeyArg } from '../key-input.js';
import { readPassphraseFile } from '../passphrase.js';

/**
 * The public key of any key file `loadKey` reads (or of standard input for `-`): a public
 * key as it is, a private key's public half (with the same permission check and passphrase
 * handling as everywhere else).
 */
export async function readPublicKey(arg: string, passphraseFile: string | undefined): Promise<PublicKey> {
  return publicKeyOf(await openKeyArg(arg), passphraseFile);
}

async function publicKeyOf(input: KeyArg, passphraseFile: string | undefined): Promise<PublicKey> {
  const passphrase =
    passphraseFile === undefined ? undefined : await readPassphraseFile(passphraseFile, '--passphrase-file');
  const key = await input.load(passphrase);
  return key instanceof PrivateKey ? key.publicKey : key;
}

/** The keys of a key argument, with their comments, and the lines of it that hold none. */
export interface PublicKeyList {
  /** The path, or `(stdin)`. */
  name: string;
  keys: { key: PublicKey; comment: string }[];
  skipped: SkippedAuthorizedKey[];
}

/** Whether `text` is OpenSSH public key lines (a `.pub` file, several cat'ed, authorized_keys). */
function isKeyLines(data: Buffer): boolean {
  const first = data
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !line.startsWith('#'));
  return first !== undefined && /^(?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]+[ \t]/.test(first);
}

/**
 * Every public key of a key argument: each `ssh-rsa` line (with its comment) of a `.pub` or
 * authorized_keys-style text, or the one key of any other key file (a private key's public
 * half). Lines that hold no usable key (other key types, options, malformed) are returned
 * as `skipped`; if no line holds one, the error loading the input as one key is thrown.
 */
export async function readPublicKeys(
  arg: string,
  passphraseFile: string | undefined,
): Promise<PublicKeyList> {
  const input = await openKeyArg(arg);
  const data = await input.bytes();
  if (data !== undefined && isKeyLines(data)) {
    const parsed = AuthorizedKeys.fromString(data.toString('utf8'));
    const keys = parsed.entries().map(({ key, comment }) => ({ key, comment }));
    if (keys.length > 0) return { name: input.name, keys, skipped: parsed.skipped };
  }
  // One key in any format, or lines none of which is usable: loading says why.
  return {
    name: input.name,
    keys: [{ key: await publicKeyOf(input, passphraseFile), comment: '' }],
    skipped: [],
  };
}
