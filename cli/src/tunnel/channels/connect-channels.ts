/**
 * `connect --listen`'s channel session (PROTOCOL.md §6b): every local connection becomes a
 * channel of one session to the server, made at the first connection and again after one
 * ends. A server that refuses channels (a release before them, `serve --no-channels`,
 * `serve --stdio`: ERR_HANDSHAKE) gets a session per connection for the rest of the run,
 * as does a connection past {@link MAX_OPEN_CHANNELS} at once.
 */
import type { Session } from '@secsess/sdk';
import { ErrorCode } from '@secsess/sdk';
import { codeOf } from '../../errors.js';
import type { HostPort } from '../../commands/host-port.js';
import { MAX_MESSAGE_SIZE } from '../options.js';
import type { Connector } from '../suite-fallback.js';
import { ChannelMux } from './mux.js';

/** Channel sessions refused in a row (ERR_HANDSHAKE) before none are asked for. */
export const REFUSALS = 2;

export class ChannelClient {
  /** The session new connections go to. */
  #mux: ChannelMux | null = null;
  /** Every session still carrying channels (an earlier one may finish its own after a newer came). */
  readonly #all = new Set<ChannelMux>();
  #making: Promise<ChannelMux | null> | null = null;
  /** Channels refused in a row (ERR_HANDSHAKE); at REFUSALS, none are asked for again. */
  #refusals = 0;
  #refused = false;
  readonly #newClient: () => Connector;
  readonly #to: HostPort;
  readonly #signal: AbortSignal;
  readonly #say: (line: string) => void;

  /** `signal`: the command stops (a handshake under way is abandoned). */
  constructor(newClient: () => Connector, to: HostPort, signal: AbortSignal, say: (line: string) => void) {
    this.#newClient = newClient;
    this.#to = to;
    this.#signal = signal;
    this.#say = say;
  }

  /** Channels not yet over, in every session. */
  get live(): number {
    let n = 0;
    for (const mux of this.#all) n += mux.live;
    return n;
  }

  /** The drain's deadline: every channel reset (its log line says `code`), the session closed. */
  abort(code: number, reason: string): void {
    for (const mux of this.#all) mux.abort(code, reason);
  }

  /**
   * The channel session to open the next connection on, made if there is none; null when
   * this connection needs a session of its own (channels refused, or the session is full).
   * Rejects with the handshake's error (the server is down, refuses the client …): the
   * connection is refused, and the next one tries again.
   */
  async mux(): Promise<ChannelMux | null> {
    if (this.#refused) return null;
    const live = this.#mux;
    // A session whose server is going away (RST 3) takes no new channel: a new session does.
    if (live !== null && live.session.state === 'open' && !live.retiring) return live.canOpen ? live : null;
    this.#making ??= this.#make().finally(() => (this.#making = null));
    const made = await this.#making;
    return made !== null && made.canOpen ? made : null;
  }

  /** Closes the session once its last channel is over (the command's drain). */
  async drain(): Promise<void> {
    const all = [...this.#all];
    for (const mux of all) mux.drain();
    await Promise.all(all.map((mux) => mux.session.closed));
  }

  async #make(): Promise<ChannelMux | null> {
    let session: Session;
    try {
      session = await this.#newClient().connect(this.#to, { signal: this.#signal });
    } catch (err) {
      if (codeOf(err) !== ErrorCode.HANDSHAKE || this.#signal.aborted) throw err;
      // The refusal is a plaintext alert (an attacker on the path can forge one) and a modern
      // server can give ERR_HANDSHAKE for other reasons: only REFUSALS in a row turn channels
      // off for the run. Until then this connection gets a session of its own.
      if (++this.#refusals >= REFUSALS && !this.#refused) {
        this.#refused = true;
        this.#say(
          `the server refused channels ${this.#refusals} times (${ErrorCode.HANDSHAKE}, as a release older ` +
            'than them, serve --no-channels or --stdio does): a session for each connection from now on; ' +
            '--no-channels says so',
        );
      }
      return null;
    }
    this.#refusals = 0;
    const mux = new ChannelMux(session, MAX_MESSAGE_SIZE);
    // The one it replaces closes once its own channels are over.
    this.#mux?.drain();
    this.#mux = mux;
    this.#all.add(mux);
    void session.closed.then(async () => {
      if (this.#mux === mux) this.#mux = null;
      // Kept for the drain and its deadline until its last channel is over: a channel closed
      // normally may still be writing to a slow program after its session has ended.
      await mux.idle();
      this.#all.delete(mux);
    });
    return mux;
  }
}
