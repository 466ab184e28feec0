/**
 * One channel's state (PROTOCOL.md §6b), as mux.ts keeps it, and how a channel's end reads
 * in its `conn` line.
 */
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { ErrorCode } from '@secsess/sdk';
import type { Session, SessionError } from '@secsess/sdk';
import { BACKEND_REASON, CLOSE_BACKEND } from '../backend.js';
import type { ConnOutcome } from '../conn-log.js';
import { CLOSE_RESET, RESET_REASON } from '../pump.js';
import { ChannelOutput } from './channel-output.js';
import { INITIAL_CREDIT, RST_BUSY, RST_GOING_AWAY, RST_REFUSED } from './frames.js';

/** How a channel ended, for its `conn` line: as a session's, from the pump's point of view. */
export type ChannelOutcome = ConnOutcome;

/** Close code of a channel cut by its session's normal end, or a server going away. */
export const GOING_AWAY = 1001;
/** Close code of a session this side could not go on with (a failure of its own). */
export const CLOSE_INTERNAL = 1011;

/** What `serve` decides about a channel the client opened. */
export interface ChannelServing {
  /** Whether one more channel may open now (the server's connection limit); else refused (RST 1). */
  admit(): boolean;
  /** The backend connection for a new channel; null: refused (RST 1). Aborted if the channel ends first. */
  connect(signal: AbortSignal): Promise<Socket | null>;
  /**
   * An admitted channel is over and its backend connection attempt settled (only then is
   * its slot free). `connected`: it had a backend connection.
   */
  ended(outcome: ChannelOutcome, started: number, channel: number, connected: boolean): void;
  /** A channel refused before it was admitted: `limit` for the connection limit, else draining. */
  refused(reason: 'limit' | 'draining'): void;
}

export interface Channel {
  readonly id: number;
  readonly started: number;
  /** The connection behind the channel; null on serve until the backend connected. */
  socket: Socket | null;
  stopReading: (() => void) | null;
  /** What the peer sent, on its way to the socket (gathered while a write is in flight). */
  readonly output: ChannelOutput;
  /** serve: aborts the backend connection under way when the channel ends first. */
  connecting: AbortController | null;
  /** DATA bytes this side may still send. */
  credit: number;
  /** Credit given to the peer, in all; DATA received, in all; consumed but not yet given back. */
  granted: number;
  received: number;
  unannounced: number;
  /** The most this side lets the peer have in flight: INITIAL_CREDIT, grown for a fast channel (mux.ts). */
  window: number;
  sentFin: boolean;
  gotFin: boolean;
  inputEnded: boolean;
  reading: boolean;
  /** Input beyond the credit (a copy), sent when WINDOW comes. */
  pending: Buffer | null;
  /** Bytes read from the socket. */
  sent: number;
  done: boolean;
  readonly result: (outcome: ChannelOutcome) => void;
}

/**
 * A channel just opened, with the credit §6b starts it with, and the promise of its end.
 * `onWritten(channel, n)`: its socket took n more bytes of what the peer sent.
 */
export function newChannel(
  id: number,
  onWritten: (channel: Channel, n: number) => void,
): { channel: Channel; done: Promise<ChannelOutcome> } {
  let result!: (outcome: ChannelOutcome) => void;
  const done = new Promise<ChannelOutcome>((resolve) => (result = resolve));
  const channel: Channel = {
    id,
    started: performance.now(),
    socket: null,
    stopReading: null,
    output: new ChannelOutput((n) => onWritten(channel, n)),
    connecting: null,
    credit: INITIAL_CREDIT,
    granted: INITIAL_CREDIT,
    received: 0,
    unannounced: 0,
    window: INITIAL_CREDIT,
    sentFin: false,
    gotFin: false,
    inputEnded: false,
    reading: false,
    pending: null,
    sent: 0,
    done: false,
    result,
  };
  return { channel, done };
}

/**
 * Whether the channel's socket is to be read now (its session aside): its input goes on,
 * nothing waits for credit, and there is credit.
 */
export function wantsInput(channel: Channel): boolean {
  return (
    !channel.inputEnded && !channel.done && !channel.sentFin && channel.pending === null && channel.credit > 0
  );
}

/** A received RST's code, as the close code and reason of the channel's log line. */
export function rstOutcome(code: number): [number | string, string] {
  if (code === RST_REFUSED) return [CLOSE_BACKEND, BACKEND_REASON];
  if (code === RST_BUSY) return [ErrorCode.SERVER_BUSY, 'server busy: its connection limit'];
  if (code === RST_GOING_AWAY) return [GOING_AWAY, 'going away'];
  return [CLOSE_RESET, RESET_REASON];
}

/**
 * How the channels still open end when their session does: `close` and `reason` for their
 * log lines — this side's own reason if it ended the session (`closeReason`), the session's
 * error, or the peer's close code — and whether the session ended normally (then a channel
 * already closed, its socket still writing, is let finish).
 */
export function sessionOutcome(
  session: Session,
  closeReason: readonly [number, string] | null,
  error: SessionError | null,
): { readonly normal: boolean; readonly close: number | string; readonly reason: string } {
  const normal = closeReason === null && error === null && session.closeCode === 1000;
  const [close, reason] =
    closeReason ??
    (error !== null && error.code !== ErrorCode.CLOSED_BY_PEER
      ? [error.code as string, error.message]
      : !normal && session.closeCode !== null
        ? [session.closeCode, session.closeReason ?? '']
        : [GOING_AWAY, 'session closed']);
  return { normal, close, reason };
}
