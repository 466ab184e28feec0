/**
 * The RSA vault of the WebSocket sample server: a worker thread holding the private key
 * (vault-worker.ts), asked through the core's `decryptSecret` plug, so the RSA operation of
 * each handshake never runs on the event loop that serves the sessions. Another process or
 * an HSM would answer the same `DecryptRequest`.
 */
import { Buffer } from 'node:buffer';
import { Worker } from 'node:worker_threads';
import type { DecryptRequest, PrivateKey } from '@secsess/sdk/core';

export class Vault {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (secret: Buffer | null) => void>();
  #next = 0;

  /** Starts the vault's thread with `key` (a KeyObject is cloned into the thread). */
  constructor(key: PrivateKey) {
    this.#worker = new Worker(new URL('./vault-worker.js', import.meta.url), {
      workerData: { key: key.keyObject },
    });
    this.#worker.on('message', ({ id, secret }: { id: number; secret: Uint8Array | null }) => {
      const resolve = this.#pending.get(id);
      this.#pending.delete(id);
      resolve?.(secret ? Buffer.from(secret) : null);
    });
    this.#worker.on('error', () => this.#failAll());
    this.#worker.on('exit', () => this.#failAll());
    this.#worker.unref();
  }

  /** Decrypts a connection's request; resolves null if the vault failed (never rejects). */
  decrypt(request: DecryptRequest): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const id = this.#next++;
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ id, ciphertext: request.ciphertext });
    });
  }

  /** Stops the thread; pending requests resolve null. */
  async close(): Promise<void> {
    await this.#worker.terminate();
  }

  #failAll(): void {
    for (const resolve of this.#pending.values()) resolve(null);
    this.#pending.clear();
  }
}
