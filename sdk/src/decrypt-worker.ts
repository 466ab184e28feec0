/**
 * The code of a decryption worker, as a self-contained CommonJS string run with
 * `new Worker(code, { eval: true })`, so the pool works the same from source (tsx), from
 * tsc's dist and from a bundle: there is no worker file to locate.
 *
 * The worker receives the private KeyObjects and the OAEP label in `workerData`, then
 * answers `{ id, keyIndex, ciphertext }` with `{ id, plaintext }`, plaintext null on any
 * failure (the core then substitutes random key material: implicit rejection). It logs
 * nothing, and zeroes its copy of each plaintext once posted.
 */
export const DECRYPT_WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { privateDecrypt, constants } = require('node:crypto');
const keys = workerData.keys;
const label = Buffer.from(workerData.label);
parentPort.on('message', (request) => {
  let plaintext = null;
  try {
    const key = keys[request.keyIndex];
    if (key) {
      const c = request.ciphertext;
      plaintext = privateDecrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
        Buffer.from(c.buffer, c.byteOffset, c.byteLength),
      );
    }
  } catch {
    plaintext = null;
  }
  parentPort.postMessage({ id: request.id, plaintext });
  if (plaintext) plaintext.fill(0);
});
`;
