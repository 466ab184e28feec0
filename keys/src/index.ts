/**
 * `@secsess/keys`: RSA key pairs for secsess. Generate, load (PEM, DER, JWK, OpenSSH),
 * save atomically, and fingerprint exactly as `ssh-keygen -l -E sha256` does.
 */
export { SecsessError, KeyError, KeyErrorCode } from './errors.js';
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
export { loadKey, inspectKeyFile, fingerprintKeyFile } from './load-key.js';
export type { KeyInspection } from './load-key.js';
export { detectKeyFormat } from './formats.js';
export type { KeyKind, KeyFileFormat, KeyFormatInfo } from './formats.js';
export { assertNoFile } from './key-file.js';
export { formatFingerprint } from './fingerprint.js';
export {
  MIN_RSA_BITS,
  DEFAULT_RSA_BITS,
  RSA_GENERATE_BITS,
  MAX_KEY_FILE_BYTES,
  PRIVATE_KEY_FILE_MODE,
  PUBLIC_KEY_FILE_MODE,
} from './constants.js';
