/**
 * Key files made by the real tools, shared by the tests of one test file: created once in
 * `test.before`, removed in `test.after.always`.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, openssl, sshKeygen } from './tools.js';

/** Passphrase of the encrypted fixtures. */
export const PASSPHRASE = 'correct horse battery staple';

/** Paths of the fixture files. */
export interface Fixtures {
  dir: string;
  /** `openssl genpkey` RSA 2048, PKCS#8 PEM. */
  opensslPkcs8: string;
  /** Its SPKI PEM public key. */
  opensslSpki: string;
  /** Its PKCS#1 public key PEM (`BEGIN RSA PUBLIC KEY`). */
  opensslPkcs1Public: string;
  /** PKCS#1 DER, PKCS#8 DER, SPKI DER, PKCS#1 public DER of the same key. */
  pkcs1Der: string;
  pkcs8Der: string;
  spkiDer: string;
  pkcs1PublicDer: string;
  /** Same key as encrypted PKCS#8 PEM and DER, and legacy encrypted PKCS#1 PEM (PASSPHRASE). */
  encryptedPkcs8Pem: string;
  encryptedPkcs8Der: string;
  legacyEncryptedPem: string;
  /** `ssh-keygen -t rsa -b 2048 -m PEM -N ''` (PKCS#1) and its .pub. */
  sshPem: string;
  /** `ssh-keygen -t rsa -b 2048 -m PKCS8 -N ''`. */
  sshPkcs8: string;
  /** `ssh-keygen -t rsa -b 2048 -N ''` (OpenSSH format) and its .pub. */
  sshOpenssh: string;
  /** `ssh-keygen -t rsa -b 2048 -N PASSPHRASE` (encrypted OpenSSH format). */
  sshOpensshEncrypted: string;
  /** `ssh-keygen -t ed25519 -N ''`. */
  sshEd25519: string;
  /** `openssl genpkey -algorithm EC` P-256, PKCS#8 PEM. */
  ecPkcs8: string;
  /** `openssl genpkey` RSA 1024, PKCS#8 PEM. */
  rsa1024: string;
  cleanup: () => Promise<void>;
}

/** Creates every fixture with openssl and ssh-keygen (2048-bit keys; 1024 for the size test). */
export async function makeFixtures(): Promise<Fixtures> {
  const { dir, cleanup } = await makeTempDir();
  const at = (name: string): string => join(dir, name);
  const pass = `pass:${PASSPHRASE}`;
  const f = {
    dir,
    opensslPkcs8: at('openssl.pem'),
    opensslSpki: at('openssl.pub.pem'),
    opensslPkcs1Public: at('openssl.rsapub.pem'),
    pkcs1Der: at('key.pkcs1.der'),
    pkcs8Der: at('key.pkcs8.der'),
    spkiDer: at('key.spki.der'),
    pkcs1PublicDer: at('key.rsapub.der'),
    encryptedPkcs8Pem: at('enc.pkcs8.pem'),
    encryptedPkcs8Der: at('enc.pkcs8.der'),
    legacyEncryptedPem: at('enc.legacy.pem'),
    sshPem: at('ssh_pem'),
    sshPkcs8: at('ssh_pkcs8'),
    sshOpenssh: at('ssh_openssh'),
    sshOpensshEncrypted: at('ssh_openssh_enc'),
    sshEd25519: at('ssh_ed25519'),
    ecPkcs8: at('ec.pem'),
    rsa1024: at('rsa1024.pem'),
    cleanup,
  };
  const key = f.opensslPkcs8;
  await Promise.all([
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key),
    sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', '', '-C', 'pem@test', '-f', f.sshPem),
    sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-m', 'PKCS8', '-N', '', '-f', f.sshPkcs8),
    sshKeygen(
      '-q',
      '-t',
      'rsa',
      '-b',
      '2048',
      '-N',
      '',
      '-C',
      'openssh comment with spaces',
      '-f',
      f.sshOpenssh,
    ),
    sshKeygen('-q', '-t', 'rsa', '-b', '2048', '-N', PASSPHRASE, '-f', f.sshOpensshEncrypted),
    sshKeygen('-q', '-t', 'ed25519', '-N', '', '-f', f.sshEd25519),
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f.ecPkcs8),
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', f.rsa1024),
  ]);
  await Promise.all([
    openssl('pkey', '-in', key, '-pubout', '-out', f.opensslSpki),
    openssl('rsa', '-in', key, '-RSAPublicKey_out', '-out', f.opensslPkcs1Public),
    openssl('rsa', '-in', key, '-traditional', '-outform', 'DER', '-out', f.pkcs1Der),
    openssl('pkcs8', '-topk8', '-nocrypt', '-in', key, '-outform', 'DER', '-out', f.pkcs8Der),
    openssl('pkey', '-in', key, '-pubout', '-outform', 'DER', '-out', f.spkiDer),
    openssl('rsa', '-in', key, '-RSAPublicKey_out', '-outform', 'DER', '-out', f.pkcs1PublicDer),
    openssl(
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      key,
      '-passout',
      pass,
      '-out',
      f.encryptedPkcs8Pem,
    ),
    openssl(
      'pkcs8',
      '-topk8',
      '-v2',
      'aes-256-cbc',
      '-in',
      key,
      '-passout',
      pass,
      '-outform',
      'DER',
      '-out',
      f.encryptedPkcs8Der,
    ),
    openssl('rsa', '-in', key, '-aes256', '-traditional', '-passout', pass, '-out', f.legacyEncryptedPem),
  ]);
  // openssl honours the umask for some outputs; private key files must be 0600 to load.
  for (const path of [
    key,
    f.pkcs1Der,
    f.pkcs8Der,
    f.encryptedPkcs8Pem,
    f.encryptedPkcs8Der,
    f.legacyEncryptedPem,
    f.ecPkcs8,
    f.rsa1024,
  ]) {
    await chmod(path, 0o600);
  }
  return f;
}

/** Writes `data` to `name` in `dir` with `mode` and returns the path. */
export async function writeFixture(
  dir: string,
  name: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data, { mode });
  await chmod(path, mode);
  return path;
}
