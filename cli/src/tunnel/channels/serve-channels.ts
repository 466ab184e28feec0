/**
 * `serve --forward` for a channel session (PROTOCOL.md §6b): each channel the client opens
 * gets its own backend connection (and PROXY header), its own `conn` line and a slot of
 * `--max-conns`; a channel refused (the limit, no backend, draining) is answered with an RST
 * and the session goes on.
 *
 * `--max-conns` counts backend connections: each channel and each session without channels
 * takes a slot (`takeSlot`) for as long as its backend connection may exist — a channel's
 * until it is over and its connection attempt settled.
 */
import type { Session } from '@secsess/sdk';
import type { HostPort } from '../../commands/host-port.js';
import {
  CLOSE_BACKEND,
  openBackend,
  proxyHeaderFor,
  UNKNOWN_ADDRESS,
  UNKNOWN_ADDRESS_REASON,
} from '../backend.js';
import type { ConnStart, TunnelLog } from '../conn-log.js';
import { peerLabel } from '../address.js';
import type { ChannelCounts } from '../metrics.js';
import { MAX_MESSAGE_SIZE } from '../options.js';
import { GOING_AWAY } from './channel.js';
import { ChannelMux } from './mux.js';

/** The `refused` code of a channel the client reset before its backend connection was made. */
export const CHANNEL_RESET_EARLY = 'ERR_CHANNEL_RESET';

/** What a serve process shares between its channel sessions. */
export class ChannelServer {
  /** Backend connections that may exist now (channels and sessions without channels), against `maxConns`. */
  #slots = 0;
  /** Channels open now, admitted in all, refused before a backend was tried (the limit, draining). */
  #channels = 0;
  #opened = 0;
  #refused = 0;
  readonly #muxes = new Set<ChannelMux>();
  #draining = false;

  constructor(
    readonly log: TunnelLog,
    readonly forward: HostPort,
    readonly options: {
      readonly maxConns: number;
      readonly proxyProtocol: boolean;
      readonly unsafeTarget: boolean;
    },
  ) {}

  /** For `--metrics`. */
  get counts(): ChannelCounts {
    return { open: this.#channels, opened: this.#opened, refused: this.#refused };
  }

  /** A slot of `--max-conns` for one backend connection; false if none is free. */
  takeSlot(): boolean {
    if (this.#slots >= this.options.maxConns) return false;
    this.#slots++;
    return true;
  }

  giveSlot(): void {
    this.#slots--;
  }

  /** SIGTERM: every channel session takes no new channel and closes after its last one. */
  drain(): void {
    this.#draining = true;
    for (const mux of this.#muxes) mux.drain();
  }

  /** Resolves once every channel is over, or after `ms` (at once if ≤ 0). */
  async idle(ms: number): Promise<void> {
    if (ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#muxes].map((mux) => mux.idle())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    ]);
    clearTimeout(timer);
  }

  /** The stop: every channel still live (its backend not done writing) is reset. */
  abort(): void {
    for (const mux of this.#muxes) mux.abort(GOING_AWAY, 'server stopping');
  }

  /** Serves one channel session until it is over. */
  async serve(session: Session): Promise<void> {
    const peer = peerLabel(session.remoteAddress, session.remotePort);
    const fingerprint = session.clientKey?.fingerprint() ?? null;
    // Read once, now: the session's socket (so its addresses) may be gone later.
    const header = this.options.proxyProtocol ? proxyHeaderFor(session) : null;
    const { log, forward } = this;
    const mux = new ChannelMux(session, MAX_MESSAGE_SIZE, {
      admit: () => {
        if (!this.takeSlot()) return false;
        this.#channels++;
        this.#opened++;
        return true;
      },
      connect: async (signal) => {
        if (header === UNKNOWN_ADDRESS) return null;
        const backend = await openBackend(forward, !this.options.unsafeTarget, signal);
        if (backend !== null && header !== null) backend.write(header);
        return backend;
      },
      ended: (outcome, started, channel, connected) => {
        this.#channels--;
        this.giveSlot();
        // Reset by the client (or cut with its session) before its backend connection was
        // made: a refusal, rate-limited as those are (an OPEN and an RST cost a client 22 bytes).
        if (!connected && outcome.close !== CLOSE_BACKEND) {
          log.refused(peer, CHANNEL_RESET_EARLY);
          return;
        }
        const start: ConnStart = { peer, fingerprint, resumed: false, started, channel };
        const unknown = outcome.close === CLOSE_BACKEND && header === UNKNOWN_ADDRESS;
        log.ended(start, unknown ? { ...outcome, reason: UNKNOWN_ADDRESS_REASON } : outcome);
      },
      refused: (why) => {
        this.#refused++;
        log.refused(peer, 'ERR_SERVER_BUSY', why === 'limit' ? 'max-conns' : 'draining');
      },
    });
    this.#muxes.add(mux);
    if (this.#draining) mux.drain();
    try {
      await session.closed;
      await mux.idle();
    } finally {
      this.#muxes.delete(mux);
    }
  }
}
