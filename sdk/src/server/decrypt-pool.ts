/**
 * The vault: a small pool of worker threads that hold the server's private keys and do
 * the RSA operations of each handshake — the OAEP decryption (~1 ms of CPU for RSA-2048,
 * several for 4096) and, when the client authenticates, the verification of its RSA-PSS
 * signature — so a burst of handshakes never stalls the event loop that carries
 * established sessions.
 *
 * Requests go to the worker with the fewest in flight. A worker that dies fails its
 * requests (a decryption with null: the handshake then fails key confirmation; a
 * verification with false: the client is refused) and is replaced; one that keeps dying
 * without answering anything is given up on after a few tries, and with no worker left the
 * pool works on the main thread rather than refusing service.
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { OAEP_LABEL, oaepDecrypt, pssVerify } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { DECRYPT_WORKER_SOURCE } from './decrypt-worker.js';

/** Consecutive deaths (without a single answer in between) after which a slot is not refilled. */
const MAX_CONSECUTIVE_CRASHES = 5;

interface Slot {
  worker: Worker | null;
  /** Requests in flight; called with the worker's reply, or null if it died first. */
  readonly pending: Map<number, (reply: Reply | null) => void>;
  crashes: number;
}

interface Reply {
  readonly id: number;
  /** A decryption's plaintext (null on failure). */
  readonly plaintext?: Uint8Array | null;
  /** A verification's outcome. */
  readonly valid?: boolean;
}

/** Operations the pool has performed, by kind, since it started. */
export interface PoolCounts {
  /** OAEP decryptions answered by a worker. */
  readonly decrypts: number;
  /** Client-signature verifications answered by a worker. */
  readonly verifies: number;
  /** Operations of either kind done on the main thread because no worker was left. */
  readonly inline: number;
}

export class DecryptPool {
  readonly #keys: readonly KeyObject[];
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;
  #decrypts = 0;
  #verifies = 0;
  #inline = 0;

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

  /** Operations performed since the pool started (for the server's stats). */
  get counts(): PoolCounts {
    return { decrypts: this.#decrypts, verifies: this.#verifies, inline: this.#inline };
  }

  /** @internal The live Worker objects, for tests that kill one. */
  workers(): Worker[] {
    return this.#slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** OAEP-decrypts `ciphertext` with key `keyIndex`. Resolves null on any failure; never rejects. */
  decrypt(keyIndex: number, ciphertext: Buffer): Promise<Buffer | null> {
    if (this.#closed) return Promise.resolve(null);
    const slot = this.#leastBusy();
    if (!slot) {
      this.#inline++;
      const key = this.#keys[keyIndex];
      return Promise.resolve(key ? oaepDecrypt(key, ciphertext) : null);
    }
    // Posting a view would clone its whole backing ArrayBuffer — for a view into a socket
    // read, 64 KiB, ~1.5 ms of main-thread time per handshake (measured, BENCHMARKS.md).
    // Copy the ciphertext into a buffer of its own and transfer that instead.
    const copy = new Uint8Array(ciphertext);
    return this.#post(slot, { keyIndex, ciphertext: copy }, [copy.buffer]).then((reply) => {
      if (!reply) return null;
      this.#decrypts++;
      const p = reply.plaintext;
      return p ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : null;
    });
  }

  /**
   * Verifies a client's RSA-PSS signature (SHA-256, salt 32) over `message` with `key`.
   * Resolves false on any failure; never rejects. The key must have passed the cheap
   * checks first (size, exponent): the cost of a verification follows them.
   */
  verify(key: KeyObject, message: Buffer, signature: Buffer): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    const slot = this.#leastBusy();
    if (!slot) {
      this.#inline++;
      return Promise.resolve(pssVerify(key, message, signature));
    }
    // Own copies, transferred (see decrypt); the KeyObject is cloned by reference.
    const m = new Uint8Array(message);
    const s = new Uint8Array(signature);
    return this.#post(slot, { verify: { key, message: m, signature: s } }, [m.buffer, s.buffer]).then(
      (reply) => {
        if (!reply) return false;
        this.#verifies++;
        return reply.valid === true;
      },
    );
  }

  /** The live worker with the fewest requests in flight, or null if none is left. */
  #leastBusy(): Slot | null {
    let slot: Slot | null = null;
    for (const s of this.#slots) {
      if (s.worker && (!slot || s.pending.size < slot.pending.size)) slot = s;
    }
    return slot;
  }

  #post(slot: Slot, request: object, transfer: ArrayBuffer[]): Promise<Reply | null> {
    const id = this.#nextId++;
    const worker = slot.worker!;
    return new Promise<Reply | null>((resolve) => {
      slot.pending.set(id, resolve);
      worker.postMessage({ id, ...request }, transfer);
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
      resolve(reply);
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
