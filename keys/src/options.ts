/** Up-front validation of caller options: TypeError for wrong types or conflicting options. */

/** Throws TypeError unless `format` is undefined or one of `allowed`. */
export function checkFormatOption(format: unknown, allowed: readonly string[]): void {
  if (format !== undefined && (typeof format !== 'string' || !allowed.includes(format))) {
    throw new TypeError(`format must be one of ${allowed.map((f) => `'${f}'`).join(', ')}`);
  }
}

/** Throws TypeError unless `comment` is undefined or a single-line string. */
export function checkCommentOption(comment: unknown): void {
  if (comment !== undefined && (typeof comment !== 'string' || /[\r\n]/.test(comment))) {
    throw new TypeError('comment must be a string without line breaks');
  }
}

/** Throws TypeError unless `passphrase` is undefined, a string or a Buffer. */
export function checkPassphraseOption(passphrase: unknown): void {
  if (passphrase !== undefined && typeof passphrase !== 'string' && !Buffer.isBuffer(passphrase)) {
    throw new TypeError('passphrase must be a string or a Buffer');
  }
}

/** Throws TypeError unless `options` is undefined or an object. */
export function checkOptionsObject(options: unknown): void {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError('options must be an object');
  }
}
