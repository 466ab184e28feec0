/**
 * `@secsess/keys`: RSA key pairs for secsess. Generate, load (PEM, DER, JWK, OpenSSH),
 * save atomically, and fingerprint exactly as `ssh-keygen -l -E sha256` does; the trust
 * stores (known_hosts for clients, authorized_keys for servers).
 */
export {
  SecsessError,
  KeyError,
  KeyErrorCode,
  TrustError,
  TrustErrorCode,
  LockError,
  LockErrorCode,
} from './errors.js';
export type { TrustErrorDetails } from './errors.js';
export { PublicKey } from './public-key.js';
export type { PublicKeyFormat, PublicKeyEncodeOptions, PublicKeySaveOptions } from './public-key.js';
export { PrivateKey } from './private-key.js';
export type {
  PrivateKeyFormat,
  PrivateKeyParseOptions,
  PrivateKeyLoadOptions,
  PrivateKeyEncodeOptions,
  PrivateKeySaveOptions,
} from './private-key.js';
export { KeyPair, keyPairPaths } from './key-pair.js';
export type { RsaBits, GenerateRsaOptions, KeyPairSaveOptions, KeyPairPaths } from './key-pair.js';
export {
  loadKey,
  loadKeyData,
  inspectKeyFile,
  inspectKeyData,
  fingerprintKeyFile,
  fingerprintKeyData,
} from './load-key.js';
export type { KeyInspection } from './load-key.js';
export { detectKeyFormat } from './formats.js';
export type { KeyKind, KeyFileFormat, KeyFormatInfo } from './formats.js';
export {
  assertNoFile,
  checkPrivateKeyPermissions,
  ensureKeyDirectory,
  readKeyFile,
  writeKeyFile,
} from './key-file.js';
export type { KeyFileContents, WriteKeyFileOptions } from './key-file.js';
export { formatFingerprint } from './fingerprint.js';
export {
  MIN_RSA_BITS,
  DEFAULT_RSA_BITS,
  RSA_GENERATE_BITS,
  MAX_KEY_FILE_BYTES,
  PRIVATE_KEY_FILE_MODE,
  PUBLIC_KEY_FILE_MODE,
  KEY_DIRECTORY_MODE,
} from './constants.js';
export { KnownHosts, verifyHostKey } from './known-hosts.js';
export type {
  KnownHostsOptions,
  KnownHostEntry,
  KnownHostsProblem,
  HostKeyCheck,
  HostKeyPolicy,
  VerifyHostKeyResult,
  AddHostKeyOptions,
  AddHostKeyResult,
} from './known-hosts.js';
export { AuthorizedKeys } from './authorized-keys.js';
export type {
  AuthorizedKeysOptions,
  AuthorizedKeyEntry,
  SkippedAuthorizedKey,
  AuthorizedKeysReloadResult,
  PreparedAuthorizedKeysReload,
  AuthorizeResult,
} from './authorized-keys.js';
export { withFileLock, lockPathOf, LOCK_TIMEOUT_MS, LOCK_STALE_MS } from './file-lock.js';
export type { FileLockOptions } from './file-lock.js';
export {
  secsessHome,
  defaultKnownHostsPath,
  defaultAuthorizedKeysPath,
  SECSESS_HOME_ENV,
} from './default-paths.js';
export { formatHostPort, normalizeHost } from './host-port.js';
export { STORE_FILE_MODE, STORE_DIR_MODE, MAX_STORE_FILE_BYTES } from './store-file.js';
