/**
 * The credit a channel gives back (PROTOCOL.md §6b "Credit"): how much WINDOW to send once
 * its socket took `n` more bytes, and when its window grows.
 *
 * Credit goes back in steps of {@link GRANT_STEP}, or at once when the peer's is about spent.
 * A channel starts with a window of 256 KiB (what the peer may have in flight). While its
 * socket keeps up (nothing gathered waits for it) more in flight costs nothing, and the
 * window may be what limits the channel — the peer's credit is spent long before this side
 * sees it, the rest being in flight — so it doubles, up to {@link MAX_WINDOW}, within the
 * session's {@link WINDOW_BUDGET}: what this side may have to hold if the program then stops
 * reading.
 */
import type { Channel } from './channel.js';
import { INITIAL_CREDIT } from './frames.js';

/** Credit given back in steps of at least this much (or when the peer's is about spent). */
export const GRANT_STEP = 65_536;
/** The most a channel's window grows to. */
export const MAX_WINDOW = 4 * 1024 * 1024;
/** What the windows of one session may grow by, in all. */
export const WINDOW_BUDGET = 32 * 1024 * 1024;

/** The windows of one session's channels: what they grew by, against the budget. */
export class Windows {
  #extra = 0;

  /**
   * `channel`'s socket took `n` more bytes: the WINDOW increment to send now, or 0 (not
   * yet). Updates the channel's `granted`, `unannounced` and `window`.
   */
  consumed(channel: Channel, n: number): number {
    channel.unannounced += n;
    const peerLeft = channel.granted - channel.received;
    if (channel.unannounced < GRANT_STEP && peerLeft >= GRANT_STEP) return 0;
    let grant = channel.unannounced;
    if (channel.output.idle && channel.window < MAX_WINDOW) {
      const more = Math.min(channel.window, MAX_WINDOW - channel.window, WINDOW_BUDGET - this.#extra);
      if (more > 0) {
        channel.window += more;
        this.#extra += more;
        grant += more;
      }
    }
    channel.granted += grant;
    channel.unannounced = 0;
    return grant;
  }

  /**
   * The channel is over, or its peer's FIN came (nothing more will arrive): what its window
   * grew by is free again. Idempotent.
   */
  release(channel: Channel): void {
    this.#extra -= channel.window - INITIAL_CREDIT;
    channel.window = INITIAL_CREDIT;
  }
}
