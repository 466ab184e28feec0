/**
 * The code of a vault worker, as a self-contained CommonJS string run with
 * `new Worker(code, { eval: true })`, so the pool works the same from source (tsx), from
 * tsc's dist and from a bundle: there is no worker file to locate.
 *
 * The worker receives the private KeyObjects and the OAEP label in `workerData`, then
 * answers two kinds of request:
 *
 * - `{ id, keyIndex, ciphertext }` (OAEP decryption) with `{ id, plaintext }`, plaintext
 *   null on any failure (the core then substitutes random key material: implicit
 *   rejection); it zeroes its copy of each plaintext once posted;
 * - `{ id, verify: { key, message, signature } }` (a client's RSA-PSS signature, SHA-256,
 *   salt 32, PROTOCOL.md §6) with `{ id, valid }`, valid false on any failure.
 *
 * It logs nothing.
 */
export const DECRYPT_WORKER_SOURCE = `'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { privateDecrypt, verify, constants } = require('node:crypto');
const keys = workerData.keys;
const label = Buffer.from(workerData.label);
const view = (u) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
function verifySignature(request) {
  try {
    return verify(
      'sha256',
      view(request.message),
      { key: request.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      view(request.signature),
    );
  } catch {
    return false;
  }
}
parentPort.on('message', (request) => {
  if (request.verify) {
    parentPort.postMessage({ id: request.id, valid: verifySignature(request.verify) === true });
    return;
  }
  let plaintext = null;
  try {
    const key = keys[request.keyIndex];
    if (key) {
      plaintext = privateDecrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
        view(request.ciphertext),
      );
    }
  } catch {
    plaintext = null;
  }
  parentPort.postMessage({ id: request.id, plaintext });
  if (plaintext) plaintext.fill(0);
});
`;
