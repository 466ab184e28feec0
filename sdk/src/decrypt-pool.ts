/**
 * The vault: a small pool of worker threads that hold the server's private keys and do
 * the one RSA private operation of each handshake (OAEP decryption, ~1 ms of CPU for
 * RSA-2048, several for 4096), so a burst of handshakes never stalls the event loop that
 * carries established sessions.
 *
 * Requests go to the worker with the fewest in flight. A worker that dies fails its
 * requests with null (those handshakes then fail key confirmation) and is replaced; one
 * that keeps dying without answering anything is given up on after a few tries, and with
 * no worker left the pool decrypts on the main thread rather than refusing service.
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { oaepDecrypt } from './protocol/index.js';
import { OAEP_LABEL } from './protocol/index.js';
import { debug } from './debug.js';
import { DECRYPT_WORKER_SOURCE } from './decrypt-worker.js';

/** Consecutive deaths (without a single answer in between) after which a slot is not refilled. */
const MAX_CONSECUTIVE_CRASHES = 5;

interface Slot {
  worker: Worker | null;
  readonly pending: Map<number, (plaintext: Buffer | null) => void>;
  crashes: number;
}

interface Reply {
  readonly id: number;
  readonly plaintext: Uint8Array | null;
}

export class DecryptPool {
  readonly #keys: readonly KeyObject[];
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;

  /**
   * @param keys The private keys, in the order the core's `keyIndex` refers to.
   * @param size Number of worker threads, at least 1.
   */
  constructor(keys: readonly KeyObject[], size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('pool size must be a positive integer');
    this.#keys = keys;
    for (let i = 0; i < size; i++) {
      const slot: Slot = { worker: null, pending: new Map(), crashes: 0 };
      this.#slots.push(slot);
      this.#spawn(slot);
    }
  }

  /** Live workers. */
  get size(): number {
    return this.#slots.filter((s) => s.worker !== null).length;
  }

  /** Requests sent to workers and not answered yet. */
  get pending(): number {
    return this.#slots.reduce((n, s) => n + s.pending.size, 0);
  }

  /** @internal The live Worker objects, for tests that kill one. */
  workers(): Worker[] {
    return this.#slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** OAEP-decrypts `ciphertext` with key `keyIndex`. Resolves null on any failure; never rejects. */
  decrypt(keyIndex: number, ciphertext: Buffer): Promise<Buffer | null> {
    if (this.#closed) return Promise.resolve(null);
    let slot: Slot | null = null;
    for (const s of this.#slots) {
      if (s.worker && (!slot || s.pending.size < slot.pending.size)) slot = s;
    }
    if (!slot) {
      const key = this.#keys[keyIndex];
      return Promise.resolve(key ? oaepDecrypt(key, ciphertext) : null);
    }
    const id = this.#nextId++;
    const worker = slot.worker!;
    const pending = slot.pending;
    // Posting a view would clone its whole backing ArrayBuffer — for a view into a socket
    // read, 64 KiB, ~1.5 ms of main-thread time per handshake (measured, BENCHMARKS.md).
    // Copy the ciphertext into a buffer of its own and transfer that instead.
    const copy = new Uint8Array(ciphertext);
    return new Promise<Buffer | null>((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, keyIndex, ciphertext: copy }, [copy.buffer]);
    });
  }

  /** Terminates every worker; requests still in flight resolve null. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        slot.worker = null;
        failPending(slot);
        if (worker) await worker.terminate();
      }),
    );
  }

  #spawn(slot: Slot): void {
    const worker = new Worker(DECRYPT_WORKER_SOURCE, {
      eval: true,
      name: 'secsess-decrypt',
      workerData: { keys: this.#keys, label: OAEP_LABEL },
    });
    // The pool must not keep a process alive on its own; the listener and sockets do.
    worker.unref();
    slot.worker = worker;
    worker.on('message', (reply: Reply) => {
      const resolve = slot.pending.get(reply.id);
      if (!resolve) return;
      slot.pending.delete(reply.id);
      slot.crashes = 0;
      const p = reply.plaintext;
      resolve(p ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : null);
    });
    worker.on('error', (err) => {
      // The worker's own failure (never key material: the worker logs and throws nothing secret).
      debug('decrypt worker %d failed: %s', worker.threadId, err.message);
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = null;
      failPending(slot);
      if (this.#closed) return;
      slot.crashes++;
      if (slot.crashes > MAX_CONSECUTIVE_CRASHES) {
        debug('decrypt worker keeps exiting (code %d); not restarting it', code);
        return;
      }
      debug('decrypt worker exited with code %d; restarting it', code);
      this.#spawn(slot);
    });
  }
}

function failPending(slot: Slot): void {
  const waiting = [...slot.pending.values()];
  slot.pending.clear();
  for (const resolve of waiting) resolve(null);
}
