/**
 * `connect`'s two defaults that an older server can refuse, and what it does then.
 *
 * - **The suite.** Without `--symmetric`, `connect` asks for the fastest suite this machine
 *   has (ChaCha20-Poly1305 when libsodium seals it). A server of an earlier release, or one
 *   pinned with `--symmetric aes-256-gcm` (`connect`'s default until then), refuses it with
 *   ERR_SUITE_MISMATCH. The command then asks once more, for AES-256-GCM, keeps to it for
 *   the rest of the run, and says so on stderr. A `--symmetric` given by the user is never
 *   changed.
 * - **The ticket request.** With `--listen`, each session asks for a resumption ticket (a
 *   ClientHello flag). A server older than resumption takes the flag for a reserved bit and
 *   refuses the hello with ERR_HANDSHAKE. The command then asks once more on a new
 *   connection, without the flag. Once that has happened {@link TICKET_REFUSALS} times in a
 *   row (a refusal with the flag, then a success without it), it stops asking for the rest
 *   of the run and says so on stderr: an older server does it every time, while a modern
 *   server's rare ERR_HANDSHAKE costs only its retry (any session that goes through while
 *   asking resets the count). `--no-resume` never asks.
 *
 * Both refusals are unauthenticated (plaintext alerts), so an on-path attacker can cause the
 * second attempt; it gets only the other AEAD suite, which the user's server accepts anyway,
 * or full handshakes instead of resumed ones (a cost, not a weakness).
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

/** Ticket requests refused in a row (each followed by a success without one) before none are made. */
export const TICKET_REFUSALS = 2;

type Target = Parameters<Connector['connect']>[0];
type ConnectOptions = Parameters<Connector['connect']>[1];

export class SuiteFallback {
  /** What the next connection asks for: the given cipher, the fastest, or FALLBACK once refused. */
  #choice: SymmetricChoice;
  /** No --symmetric was given and the fastest is not FALLBACK already. */
  readonly #mayFallBack: boolean;
  /** Whether the next connection asks for a ticket (false once a server kept turning the request down). */
  #askTickets: boolean;
  /** Ticket requests refused in a row, each retried without one successfully. */
  #ticketRefusals = 0;
  readonly #make: (choice: SymmetricChoice, tickets: boolean, channels: boolean) => Client;
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
    const resumption = options.resumption ?? false;
    this.#askTickets = resumption !== false;
    const withoutTickets: ClientOptions = { ...options, resumption: false };
    const withChannels: ClientOptions = { ...withoutTickets, channels: true };
    this.#make = (choice, tickets, channels) =>
      Client.create(
        serverKey,
        algorithmSet(choice),
        channels ? withChannels : tickets ? options : withoutTickets,
      );
    this.#say = say;
  }

  /** A fresh client (a Client holds one session at a time). */
  client(): Connector {
    return { connect: (to, options) => this.#connect(to, options) };
  }

  /**
   * A fresh client whose session carries channels (PROTOCOL.md §6b). It asks for no ticket:
   * a channel session is never resumed. Its refusal (ERR_HANDSHAKE) is the caller's to handle.
   */
  channelClient(): Connector {
    return { connect: (to, options) => this.#suites(to, options, false, true) };
  }

  async #connect(to: Target, options: ConnectOptions): Promise<Session> {
    const tickets = this.#askTickets;
    let session: Session;
    try {
      session = await this.#suites(to, options, tickets);
    } catch (err) {
      if (!tickets || codeOf(err) !== ErrorCode.HANDSHAKE || options?.signal?.aborted) throw err;
      session = await this.#suites(to, options, false);
      // Connections that asked before the refusals came back retry too; one line says so.
      if (++this.#ticketRefusals >= TICKET_REFUSALS && this.#askTickets) {
        this.#say(
          `the server refused the resumption ticket request ${this.#ticketRefusals} times (${ErrorCode.HANDSHAKE}, ` +
            'as a release older than resumption does): full handshakes from now on; --no-resume says so',
        );
        this.#askTickets = false;
      }
      return session;
    }
    if (tickets) this.#ticketRefusals = 0;
    return session;
  }

  async #suites(to: Target, options: ConnectOptions, tickets: boolean, channels = false): Promise<Session> {
    const tried = this.#choice;
    try {
      return await this.#make(tried, tickets, channels).connect(to, options);
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
      return this.#make(FALLBACK, tickets, channels).connect(to, options);
    }
  }
}
