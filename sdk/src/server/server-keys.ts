/**
 * The server's private keys and the worker pool that holds them, in generations: `start()`
 * loads the first, `reloadKeys()` loads a new one and swaps it in for new connections. A
 * connection keeps the generation it was accepted under until its handshake ends (the
 * core was given those keys, and its ClientHello may still be on the way), so a replaced
 * generation's pool stays up until the last such handshake is over — each bounded by
 * `handshakeTimeout` — and is then closed. Sessions already open need no key. A handshake
 * uses its own generation's pool for everything, the client's signature too.
 */
import type { PrivateKey } from '@secsess/keys';
import { oaepDecrypt } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { loadPrivateKeys } from '../common/key-input.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import type { Session } from '../stream/session.js';
import type { DecryptFunctionOf, VerifyFunctionOf } from '../stream/session-handshake.js';

/** Performs the server's RSA decryption elsewhere (the worker pool); null on any failure. */
type DecryptFunction = DecryptFunctionOf<Session>;
/** Verifies a client's signature elsewhere (the worker pool); false on any failure. */
type VerifyFunction = VerifyFunctionOf<Session>;
import { DecryptPool } from './decrypt-pool.js';
import type { PoolCounts } from './decrypt-pool.js';
import type { ConnectionAdmission } from './admission.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { Authorizer } from './authorization.js';
import type { ServerReload } from './server-events.js';

/** One set of loaded keys, its pool (null with `workers: 0`) and the RSA work its sessions use. */
export class KeyGeneration {
  readonly keys: readonly PrivateKey[];
  readonly pool: DecryptPool | null;
  /** Given to each session made under this generation; undefined: the core decrypts inline. */
  readonly decrypt: DecryptFunction | undefined;
  /**
   * A client's signature verified in this generation's pool (undefined without one: the
   * core verifies inline). This pool, not the one in force when the ClientFinished arrives:
   * this one stays up until the handshake is over, while a later one may be replaced and
   * closed by a further reload meanwhile. Not refused when the queue is full: the client
   * is already open (its ClientFinished opened) and the decryption is spent, so a refusal
   * now would cost it its session instead of a retry. Verifications need no bound of
   * their own: at most one per handshake, so at most `maxHandshakes` queued, each a
   * public-exponent-65537 operation (~0.06 ms for 4096 bits).
   */
  readonly verify: VerifyFunction | undefined;
  /** Handshakes begun under this generation and not over yet. */
  #handshakes = 0;
  /** Set once replaced: called when the last handshake is over. */
  #onIdle: (() => void) | null = null;

  constructor(keys: readonly PrivateKey[], pool: DecryptPool | null, decrypt: DecryptFunction | undefined) {
    this.keys = keys;
    this.pool = pool;
    this.decrypt = decrypt;
    this.verify = pool
      ? (request) => pool.verify(request.key.keyObject, request.message, request.signature)
      : undefined;
  }

  /** SHA256 fingerprints of the public halves, the announced key first. */
  get fingerprints(): string[] {
    return this.keys.map((k) => k.publicKey.fingerprint());
  }

  /** A handshake begins under these keys; `done` is called once when it is over. */
  track(ready: Promise<unknown>): void {
    this.#handshakes++;
    const done = (): void => {
      if (--this.#handshakes === 0) this.#onIdle?.();
    };
    ready.then(done, done);
  }

  /** Resolves once no handshake begun under these keys is left (at once if none is). */
  idle(): Promise<void> {
    if (this.#handshakes === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#onIdle = resolve;
    });
  }
}

export class ServerKeys {
  readonly #inputs: readonly PrivateKeyInput[];
  readonly #options: ResolvedServerOptions;
  readonly #admission: ConnectionAdmission;
  #current: KeyGeneration | null = null;
  /** Replaced generations whose pool waits for their last handshakes. */
  readonly #retiring = new Set<KeyGeneration>();
  /** Pool counts of generations already closed, since the server was created. */
  #closedCounts: PoolCounts = ZERO_COUNTS;
  /** Decryptions done inline (`workers: 0`), since the server was created. */
  #inline = 0;
  /** Reloads, one after the other. */
  #reloading: Promise<unknown> = Promise.resolve();

  constructor(
    inputs: readonly PrivateKeyInput[],
    options: ResolvedServerOptions,
    admission: ConnectionAdmission,
  ) {
    this.#inputs = inputs;
    this.#options = options;
    this.#admission = admission;
  }

  /** The generation new connections get; null when stopped. */
  get current(): KeyGeneration | null {
    return this.#current;
  }

  /** RSA operations queued for or running in every live pool. */
  get pending(): number {
    let n = this.#current?.pool?.pending ?? 0;
    for (const g of this.#retiring) n += g.pool?.pending ?? 0;
    return n;
  }

  /** Operations of every pool since the server was created, replaced and closed ones included. */
  get counts(): PoolCounts {
    let sum =
      this.#inline === 0
        ? this.#closedCounts
        : addCounts(this.#closedCounts, { ...ZERO_COUNTS, inline: this.#inline });
    for (const g of [this.#current, ...this.#retiring]) if (g?.pool) sum = addCounts(sum, g.pool.counts);
    return sum;
  }

  /**
   * Reads the key inputs (files again, objects as they are) and starts their pool. Not in
   * force until {@link install}ed. Rejects with the KeyError of an unreadable key.
   */
  async load(): Promise<KeyGeneration> {
    const keys = await loadPrivateKeys(this.#inputs);
    if (this.#options.workers === 0) return new KeyGeneration(keys, null, this.#inlineDecrypt(keys));
    const pool = new DecryptPool(
      keys.map((k) => k.keyObject),
      this.#options.workers,
    );
    const admission = this.#admission;
    const max = this.#options.maxPendingDecrypts;
    return new KeyGeneration(keys, pool, (keyIndex, ciphertext, session) => {
      // Decided on the queues alone (every live pool's), before the ciphertext is looked at: no oracle.
      if (this.pending >= max) admission.refuse(session, 'maxPendingDecrypts');
      admission.takeRateToken(session);
      return pool.decrypt(keyIndex, ciphertext);
    });
  }

  /**
   * `reloadKeys()`: loads a new generation and installs it, after any reload still running.
   * `notListening()` returns the error to throw if the server is not listening (null if it
   * is); it is asked before and after the load, so a reload never outlives a `stop()`.
   * Resolves with the new fingerprints; on failure the current keys stay in force.
   */
  reload<T = undefined>(
    notListening: () => Error | null,
    /**
     * Read with the keys (the authorized_keys file): its `apply()` runs as the new keys go
     * into force, and not at all if either fails to load.
     */
    alongside?: () => Promise<{ apply(): void } & T>,
  ): Promise<{ fingerprints: string[]; alongside: T | undefined }> {
    const run = this.#reloading.then(async () => {
      let refusal = notListening();
      if (refusal) throw refusal;
      const generation = await this.load();
      let other: ({ apply(): void } & T) | undefined;
      try {
        other = await alongside?.();
        refusal = notListening();
        if (refusal) throw refusal;
      } catch (err) {
        await generation.pool?.close();
        throw err;
      }
      this.install(generation);
      other?.apply();
      debug('server: keys reloaded, now %s', generation.fingerprints.join(', '));
      return { fingerprints: generation.fingerprints, alongside: other };
    });
    this.#reloading = run.catch(() => {});
    return run;
  }

  /**
   * `server.reload()`: the keys and, if `authorizer` has a file, authorized_keys, all read
   * before either is put in force (see `reload`'s `alongside`).
   */
  async reloadWith(authorizer: Authorizer, notListening: () => Error | null): Promise<ServerReload> {
    // An authorized_keys made in memory (fromString) has no file to read again.
    const withFile = authorizer.authorizedKeys?.path !== undefined;
    const { fingerprints, alongside } = await this.reload(
      notListening,
      withFile ? () => authorizer.prepareReload() : undefined,
    );
    const authorized =
      alongside === undefined ? null : { added: alongside.added, removed: alongside.removed };
    return { fingerprints, authorized };
  }

  /** Puts `generation` in force for new connections; the one it replaces closes once idle. */
  install(generation: KeyGeneration): void {
    const old = this.#current;
    this.#current = generation;
    if (!old) return;
    this.#retiring.add(old);
    void old.idle().then(() => {
      // stop() may have closed it meanwhile.
      if (this.#retiring.delete(old)) void this.#close(old);
    });
  }

  /** Closes every pool (the server stops); their counts are kept (`metrics()`: since creation). */
  async closeAll(): Promise<void> {
    const all = [this.#current, ...this.#retiring];
    this.#current = null;
    this.#retiring.clear();
    await Promise.all(all.map((g) => g && this.#close(g)));
  }

  async #close(generation: KeyGeneration): Promise<void> {
    if (!generation.pool) return;
    this.#closedCounts = addCounts(this.#closedCounts, generation.pool.counts);
    await generation.pool.close();
  }

  /**
   * Without a pool: on the main thread, at once, counted (`mainThread`, as a DatagramServer's
   * with `workers: 0`); only the rate check comes first (if on).
   */
  #inlineDecrypt(keys: readonly PrivateKey[]): DecryptFunction {
    const admission = this.#admission;
    const rate = admission.rateEnabled;
    return (keyIndex, ciphertext, session) => {
      if (rate) admission.takeRateToken(session);
      this.#inline++;
      return Promise.resolve(oaepDecrypt(keys[keyIndex]!.keyObject, ciphertext));
    };
  }
}

const ZERO_COUNTS: PoolCounts = { decrypts: 0, verifies: 0, inline: 0 };

function addCounts(a: PoolCounts, b: PoolCounts): PoolCounts {
  return {
    decrypts: a.decrypts + b.decrypts,
    verifies: a.verifies + b.verifies,
    inline: a.inline + b.inline,
  };
}
