/**
 * Key files damaged in the ways key files get damaged — cut short, corrupted, left
 * readable by others, locked with a passphrase, of the wrong algorithm — made from one
 * fresh RSA key with the library and node:crypto alone (no external tools, so cheap).
 * Shared by the SDK's and the CLI's key-file tests.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyErrorCode, KeyPair } from '@secsess/keys';
import type { PrivateKey } from '@secsess/keys';

/** The passphrase of `encrypted`. */
export const DAMAGED_PASSPHRASE = 'the right passphrase';

/** One damaged private key file and the code every loader must report for it. */
export interface DamagedKey {
  readonly name: string;
  readonly path: string;
  readonly code: KeyErrorCode;
}

export interface DamagedKeys {
  readonly dir: string;
  /** A good private key file (0600) and its public key file. */
  readonly good: string;
  readonly goodPub: string;
  readonly key: PrivateKey;
  /** The passphrase-protected copy of `good` (DAMAGED_PASSPHRASE). */
  readonly encrypted: string;
  /** Private key files, each with the code loading it without a passphrase gives. */
  readonly privateFiles: readonly DamagedKey[];
  /** Public key files, each with its code. */
  readonly publicFiles: readonly DamagedKey[];
  cleanup(): Promise<void>;
}

export async function makeDamagedKeys(): Promise<DamagedKeys> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-damaged-'));
  const { privateKey: key, publicKey } = await KeyPair.generateRSA({ bits: 2048 });
  const at = (name: string): string => join(dir, name);
  const pem = key.encode({ format: 'pem' }).toString('utf8');
  const der = key.encode({ format: 'der' });
  const pubPem = publicKey.encode({ format: 'pem' }).toString('utf8');
  const write = async (name: string, data: string | Buffer, mode = 0o600): Promise<string> => {
    const path = at(name);
    await writeFile(path, data, { mode });
    await chmod(path, mode);
    return path;
  };
  // Corruption inside the DER structure: the version INTEGER's tag (byte 4) becomes a
  // BIT STRING tag, so no parser can take the file for a key.
  const corruptDer = Buffer.from(der);
  corruptDer[4] = 0x03;
  const corruptPem = `-----BEGIN PRIVATE KEY-----\n${corruptDer.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await mkdir(at('a-directory'));

  const good = await write('good.key', pem);
  const goodPub = await write('good.pub', pubPem, 0o644);
  const encrypted = at('encrypted.key');
  await key.save(encrypted, { passphrase: DAMAGED_PASSPHRASE });
  const privateFiles: DamagedKey[] = [
    { name: 'missing', path: at('missing.key'), code: KeyErrorCode.FILE_NOT_FOUND },
    { name: 'a directory', path: at('a-directory'), code: KeyErrorCode.FILE_UNREADABLE },
    { name: 'empty', path: await write('empty.key', ''), code: KeyErrorCode.FORMAT },
    {
      name: 'truncated PEM',
      path: await write('truncated.key', pem.slice(0, pem.length >> 1)),
      code: KeyErrorCode.FORMAT,
    },
    {
      name: 'truncated DER',
      path: await write('truncated.der', der.subarray(0, der.length >> 1)),
      code: KeyErrorCode.FORMAT,
    },
    { name: 'corrupted PEM', path: await write('corrupted.key', corruptPem), code: KeyErrorCode.FORMAT },
    {
      name: 'readable by others',
      path: await write('loose.key', pem, 0o644),
      code: KeyErrorCode.PERMISSIONS,
    },
    { name: 'encrypted, no passphrase', path: encrypted, code: KeyErrorCode.ENCRYPTED },
    {
      name: 'not RSA (EC P-256)',
      path: await write('ec.key', ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      code: KeyErrorCode.NOT_RSA,
    },
    { name: 'a public key', path: await write('public-as-private.key', pubPem), code: KeyErrorCode.FORMAT },
  ];
  const publicFiles: DamagedKey[] = [
    {
      name: 'truncated',
      path: await write('truncated.pub', pubPem.slice(0, pubPem.length >> 1), 0o644),
      code: KeyErrorCode.FORMAT,
    },
    {
      name: 'not RSA (EC P-256)',
      path: await write('ec.pub', ec.publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644),
      code: KeyErrorCode.NOT_RSA,
    },
    { name: 'missing', path: at('missing.pub'), code: KeyErrorCode.FILE_NOT_FOUND },
  ];
  return {
    dir,
    good,
    goodPub,
    key,
    encrypted,
    privateFiles,
    publicFiles,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
