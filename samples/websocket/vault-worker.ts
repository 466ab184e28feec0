/**
 * The vault's thread: holds the server's private key and answers decryption requests
 * (`{ id, ciphertext }` → `{ id, secret }`, secret null on any failure). The connections
 * hold only the public key; the main thread loads the key file and hands the key over (a
 * vault in another process or an HSM would keep it out of the server's process entirely).
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { decryptPreSecret } from '@secsess/sdk/core';

const key = (workerData as { key: KeyObject }).key;
parentPort!.on('message', ({ id, ciphertext }: { id: number; ciphertext: Uint8Array }) => {
  const secret = decryptPreSecret(key, Buffer.from(ciphertext));
  parentPort!.postMessage({ id, secret });
});
