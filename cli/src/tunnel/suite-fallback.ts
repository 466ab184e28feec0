/**
 * `connect` without `--symmetric` asks for the fastest suite this machine has
 * (ChaCha20-Poly1305 when libsodium seals it). A server of an earlier release, or one pinned
 * with `--symmetric aes-256-gcm` (`connect`'s default until then), refuses it with
 * ERR_SUITE_MISMATCH. The command then asks once more, for AES-256-GCM, keeps to it for the
 * rest of the run, and says so on stderr. A `--symmetric` given by the user is never changed.
 *
 * The refusal is unauthenticated (a plaintext alert), so an on-path attacker can cause the
 * second attempt; it only gets the other AEAD suite, which the user's server accepts anyway.
 */
import { Client, ErrorCode } from '@secsess/sdk';
import type { ClientOptions, PublicKey, Session } from '@secsess/sdk';
import { codeOf } from '../errors.js';
import { algorithmSet } from './options.js';
import type { SymmetricChoice } from './options.js';

/** What the command needs of a client: one session at a time. */
export interface Connector {
  connect(to: Parameters<Client['connect']>[0], options?: Parameters<Client['connect']>[1]): Promise<Session>;
}

const FALLBACK: SymmetricChoice = 'aes-256-gcm';

export class SuiteFallback {
  /** What the next connection asks for: the given cipher, the fastest, or FALLBACK once refused. */
  #choice: SymmetricChoice;
  /** No --symmetric was given and the fastest is not FALLBACK already. */
  readonly #mayFallBack: boolean;
  readonly #make: (choice: SymmetricChoice) => Client;
  readonly #say: (line: string) => void;

  /** `given`: the user's `--symmetric`, or undefined for `fastest` (which may fall back). */
  constructor(
    given: SymmetricChoice | undefined,
    fastest: SymmetricChoice,
    serverKey: PublicKey | null,
    options: ClientOptions,
    say: (line: string) => void,
  ) {
    this.#choice = given ?? fastest;
    this.#mayFallBack = given === undefined && fastest !== FALLBACK;
    this.#make = (choice) => Client.create(serverKey, algorithmSet(choice), options);
    this.#say = say;
  }

  /** A fresh client (a Client holds one session at a time). */
  client(): Connector {
    return { connect: (to, options) => this.#connect(to, options) };
  }

  async #connect(
    to: Parameters<Connector['connect']>[0],
    options: Parameters<Connector['connect']>[1],
  ): Promise<Session> {
    const tried = this.#choice;
    try {
      return await this.#make(tried).connect(to, options);
    } catch (err) {
      if (
        !this.#mayFallBack ||
        tried === FALLBACK ||
        codeOf(err) !== ErrorCode.SUITE_MISMATCH ||
        options?.signal?.aborted
      )
        throw err;
      // Connections that asked before the first refusal came back fall back too; one line says so.
      if (this.#choice !== FALLBACK) {
        this.#say(
          `the server refused ${tried} (${ErrorCode.SUITE_MISMATCH}): asking for ${FALLBACK} from now on; --symmetric chooses`,
        );
        this.#choice = FALLBACK;
      }
      return this.#make(FALLBACK).connect(to, options);
    }
  }
}
