/**
 * Keys and lines for the trust-store tests: real RSA keys from node:crypto, plus lines
 * secsess must refuse (a 1024-bit RSA key, an Ed25519 key) built with the SSH wire encoder.
 */
import { generateKeyPair, generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import { PublicKey } from '@secsess/keys';
import { rsaPublicBlob, sshString } from '../../src/ssh-wire.js';

const generate = promisify(generateKeyPair);

/** `count` distinct 2048-bit RSA public keys, generated in parallel. */
export async function rsaPublicKeys(count: number): Promise<PublicKey[]> {
  const pairs = await Promise.all(
    Array.from({ length: count }, () => generate('rsa', { modulusLength: 2048 })),
  );
  return pairs.map(({ publicKey }) => PublicKey.fromKeyObject(publicKey));
}

/** An `ssh-rsa` line for a 1024-bit key, which PublicKey refuses to represent. */
export function smallRsaLine(comment = 'small'): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = rsaPublicBlob(Buffer.from(jwk.n ?? '', 'base64url'), Buffer.from(jwk.e ?? '', 'base64url'));
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

/** An `ssh-ed25519` line, as OpenSSH writes it. */
export function ed25519Line(comment = 'ed'): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}
