/** Types of the one function secsess uses from `bcrypt-pbkdf` (a CommonJS module without types). */
declare module 'bcrypt-pbkdf' {
  /**
   * OpenBSD's bcrypt_pbkdf: fills `key[0..keylen)` from the passphrase and salt with
   * `rounds` rounds. Returns 0, or -1 for an empty passphrase, empty salt, zero rounds or
   * zero key length.
   */
  export function pbkdf(
    pass: Uint8Array,
    passlen: number,
    salt: Uint8Array,
    saltlen: number,
    key: Uint8Array,
    keylen: number,
    rounds: number,
  ): number;
}
