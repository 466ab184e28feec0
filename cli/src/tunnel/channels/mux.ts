/**
 * One session carrying many connections as channels (PROTOCOL.md §6b), both sides of the
 * tunnel: `connect` opens a channel for each local connection, `serve` joins each channel
 * to a backend connection.
 *
 * - **Batching.** Every frame of one event-loop turn goes out as one session message (a
 *   `setImmediate` flush): a burst of small requests on many connections costs one record.
 * - **Credit.** A channel sends DATA only within the credit its peer gave (256 KiB at OPEN,
 *   then WINDOW); it gives credit back once its socket took the bytes it received
 *   (channel-output.ts), growing the window of a channel whose socket keeps up (window.ts),
 *   so a slow program holds back only its own channel. Input beyond the credit (at most one
 *   read) waits, and the socket is paused.
 * - **Memory.** Messages are at most one record's payload; a received one's memory goes
 *   back to the session once no view of it is with a socket (`HeldMessage`).
 * - **The session's own backlog.** While the session holds {@link HIGH_WATER} bytes or more
 *   unsent, no DATA is added and every socket is paused; the write that crossed the mark
 *   resumes them. The server also stops reading the session while it holds
 *   {@link READ_GATE} or more (only its answers to OPENs can grow it then).
 * - **Ends.** Both FINs, and a socket that closed with every byte written: 1000. An RST, a
 *   socket reset or cut, or the session's end: the socket is reset (never a FIN for a cut
 *   stream), with a code for the log.
 */
import type { Socket } from 'node:net';
import { readBorrowed } from '@secsess/sdk';
import type { Session, SessionError } from '@secsess/sdk';
import { BACKEND_REASON, CLOSE_BACKEND } from '../backend.js';
import { CLOSE_RESET, RESET_REASON } from '../pump.js';
import { CLOSE_INTERNAL, newChannel, rstOutcome, sessionOutcome, wantsInput } from './channel.js';
import { HeldMessage } from './channel-output.js';
import { Windows } from './window.js';
import type { Channel, ChannelOutcome, ChannelServing } from './channel.js';
import {
  CHANNEL_PROTOCOL_REASON,
  CLOSE_CHANNEL_PROTOCOL,
  ChannelProtocolError,
  DATA,
  FIN,
  FRAME_HEADER_SIZE,
  FrameWriter,
  MAX_CHANNEL_ID,
  MAX_CREDIT,
  MAX_OPEN_CHANNELS,
  OPEN,
  RST,
  RST_BUSY,
  RST_GOING_AWAY,
  RST_REFUSED,
  RST_RESET,
  WINDOW,
  readFrames,
} from './frames.js';

/** Unsent session bytes at which every channel's socket is paused. */
export const HIGH_WATER = 1024 * 1024;
/** Unsent session bytes at which the server stops reading the session (§6b). */
export const READ_GATE = 8 * 1024 * 1024;
/** The largest DATA body sent. */
const MAX_DATA = 65_536 - FRAME_HEADER_SIZE;
/**
 * The messages sent are at most one record's payload: a message never needs reassembly at
 * the peer, and its memory is recycled whole there (§6b allows up to 256 KiB).
 */
const MESSAGE_SIZE = 65_536;
/** Packed this much, the batch goes at once rather than at the end of the turn (bulk gains nothing by waiting). */
const FLUSH_AT = 32_768;

function ignore(): void {}

export class ChannelMux {
  readonly session: Session;
  readonly #server: ChannelServing | null;
  readonly #open = new Map<number, Channel>();
  /** Channels not yet over: open, or closed with their socket still writing. */
  readonly #live = new Set<Channel>();
  /** The highest channel number opened (sent by the client, accepted by the server). */
  #highest = 0;
  readonly #writer: FrameWriter;
  #scheduled = false;
  /** The session holds HIGH_WATER or more unsent: sockets paused, no DATA added. */
  #blocked = false;
  #draining = false;
  #closeReason: [number, string] | null = null;
  #sessionError: SessionError | null = null;
  readonly #windows = new Windows();
  /** The message the read loop is in: its views may go to sockets (held until written). */
  #reading: HeldMessage | null = null;
  readonly #idle: Array<() => void> = [];

  /** `serving`: the server side; without it, the client side (which opens channels). */
  constructor(session: Session, maxMessage: number, serving: ChannelServing | null = null) {
    this.session = session;
    this.#server = serving;
    this.#writer = new FrameWriter(Math.min(maxMessage, MESSAGE_SIZE), (message) => this.#send(message));
    session.on('error', (err: SessionError) => {
      this.#sessionError ??= err;
    });
    void this.#readLoop();
    void session.closed.then(() => this.#sessionOver());
  }

  /** Whether `open()` can take a connection now (a client keeps to {@link MAX_OPEN_CHANNELS}). */
  get canOpen(): boolean {
    return (
      this.#server === null &&
      this.session.state === 'open' &&
      !this.#draining &&
      this.#highest < MAX_CHANNEL_ID &&
      this.#open.size < MAX_OPEN_CHANNELS
    );
  }

  /** Channels not yet over (open, or closed with their socket still writing). */
  get live(): number {
    return this.#live.size;
  }

  /** Client: no new channel will open on this session (its server is going away, or it used every number). */
  get retiring(): boolean {
    return this.#draining || this.#highest >= MAX_CHANNEL_ID;
  }

  /** Client: carries `socket` on a new channel, whose end `done` tells; null if none can open now. */
  open(socket: Socket): { readonly id: number; readonly done: Promise<ChannelOutcome> } | null {
    if (!this.canOpen) return null;
    const id = ++this.#highest;
    this.#writer.control(OPEN, id);
    this.#schedule();
    const { channel, done } = this.#channel(id);
    this.#attach(channel, socket);
    return { id, done };
  }

  /**
   * No new channels (serve: OPENs get RST 3, going away); the session closes (1000) once
   * its last channel is closed.
   */
  drain(): void {
    this.#draining = true;
    this.#closeIfIdle();
  }

  /** Ends every channel now (its socket reset, `code` in its log line) and closes the session. */
  abort(code: number, reason: string): void {
    this.#closeReason ??= [code, reason];
    for (const channel of [...this.#live]) this.#finish(channel, code, reason);
    this.#close(code, reason);
  }

  /** Resolves once no channel is live. */
  idle(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #channel(id: number): { channel: Channel; done: Promise<ChannelOutcome> } {
    const made = newChannel(id, (channel, n) => this.#consumed(channel, n));
    this.#open.set(id, made.channel);
    this.#live.add(made.channel);
    return made;
  }

  #attach(channel: Channel, socket: Socket): void {
    channel.socket = socket;
    // Errors come with 'close' (hadError): handled there.
    socket.on('error', ignore);
    socket.once('end', () => this.#inputEnded(channel));
    socket.once('close', (hadError: boolean) => this.#socketClosed(channel, hadError));
    channel.stopReading = readBorrowed(socket, (chunk: Buffer) => this.#input(channel, chunk));
    channel.output.attach(socket);
    this.#updateReading(channel);
  }

  // ---- towards the peer ----

  #input(channel: Channel, chunk: Buffer): void {
    channel.sent += chunk.length;
    if (channel.done || channel.sentFin) return;
    // Sent now within the credit unless the session is backed up; the rest waits (a copy).
    const rest = this.#blocked ? chunk : this.#sendData(channel, chunk);
    if (rest.length > 0) channel.pending = Buffer.from(rest);
    this.#updateReading(channel);
  }

  /** DATA within the credit; returns what did not fit. */
  #sendData(channel: Channel, bytes: Buffer): Buffer {
    while (bytes.length > 0 && channel.credit > 0) {
      const n = Math.min(bytes.length, channel.credit, MAX_DATA);
      this.#writer.data(channel.id, bytes.subarray(0, n));
      channel.credit -= n;
      bytes = bytes.subarray(n);
    }
    if (this.#writer.pending >= FLUSH_AT) this.#writer.flush();
    else this.#schedule();
    return bytes;
  }

  /** Input that waited for credit (or for the session's backlog), now that there may be room. */
  #sendPending(channel: Channel): void {
    if (channel.pending !== null && !this.#blocked && !channel.done) {
      const rest = this.#sendData(channel, channel.pending);
      channel.pending = rest.length > 0 ? rest : null;
    }
    this.#sendFinIfDue(channel);
    this.#updateReading(channel);
  }

  #inputEnded(channel: Channel): void {
    channel.inputEnded = true;
    this.#sendFinIfDue(channel);
  }

  #sendFinIfDue(channel: Channel): void {
    if (!channel.inputEnded || channel.pending !== null || channel.sentFin || channel.done) return;
    // A FIN that cannot leave (the session is closing) must not count as sent: the channel
    // then ends with the session's reason, not as a normal end.
    if (!this.#open.has(channel.id) || this.session.state !== 'open') return;
    channel.sentFin = true;
    this.#writer.control(FIN, channel.id);
    this.#schedule();
    this.#forgetIfClosed(channel);
  }

  #updateReading(channel: Channel): void {
    const socket = channel.socket;
    if (socket === null) return;
    const want = !this.#blocked && wantsInput(channel);
    if (want === channel.reading) return;
    channel.reading = want;
    if (want) socket.resume();
    else socket.pause();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#writer.flush();
    });
  }

  #send(message: Buffer): void {
    const session = this.session;
    if (session.state !== 'open') return;
    const written = session.write(message);
    written.catch(ignore);
    if (!this.#blocked && session.bufferedAmount >= HIGH_WATER) {
      this.#blocked = true;
      for (const channel of this.#open.values()) this.#updateReading(channel);
      written.then(() => {
        this.#blocked = false;
        for (const channel of this.#open.values()) this.#sendPending(channel);
      }, ignore);
    }
  }

  // ---- from the peer ----

  async #readLoop(): Promise<void> {
    const session = this.session;
    const visit = (type: number, id: number, body: Buffer): void => this.#frame(type, id, body);
    try {
      for (;;) {
        // Only the server waits for its own backlog; a client always reads (§6b).
        if (this.#server !== null && session.bufferedAmount >= READ_GATE) await session.flushStream();
        const message = await session.read();
        if (message === null) {
          // The peer's End: channels half-close with FIN, never with End (§6b).
          if (session.state === 'open') throw new ChannelProtocolError('channel session: End');
          return;
        }
        // A large message's memory serves the session again once no view of it is left
        // (views handed to sockets are released at their writes' callbacks).
        const held = (this.#reading = new HeldMessage(session, message));
        readFrames(message, visit);
        this.#reading = null;
        held.release();
      }
    } catch (err) {
      // The session failed (read() rejected): #sessionOver() ends the channels. A broken
      // frame closes it with 1002; anything else (a failure of ours) with 1011, so that a
      // session is never left open with nobody reading it.
      if (session.state !== 'open') return;
      if (err instanceof ChannelProtocolError) this.abort(CLOSE_CHANNEL_PROTOCOL, CHANNEL_PROTOCOL_REASON);
      else this.abort(CLOSE_INTERNAL, 'internal error');
    }
  }

  #frame(type: number, id: number, body: Buffer): void {
    if (type === OPEN) return this.#peerOpened(id);
    if (id > this.#highest) throw new ChannelProtocolError(`channel frame: channel ${id} was never opened`);
    const channel = this.#open.get(id);
    if (channel === undefined) return; // closed here: sent before the peer knew
    switch (type) {
      case DATA:
        if (channel.gotFin) throw new ChannelProtocolError('channel frame: DATA after FIN');
        if (channel.received + body.length > channel.granted) {
          throw new ChannelProtocolError('channel frame: DATA beyond the credit');
        }
        channel.received += body.length;
        channel.output.push(body, this.#reading!);
        return;
      case FIN:
        if (channel.gotFin) throw new ChannelProtocolError('channel frame: a second FIN');
        channel.gotFin = true;
        channel.output.end();
        // Nothing more comes on it: what its window grew by serves other channels.
        this.#windows.release(channel);
        this.#forgetIfClosed(channel);
        return;
      case RST: {
        const code = body.readUInt16BE(0);
        // A server going away takes no more channels: the next connection needs a new session.
        if (this.#server === null && code === RST_GOING_AWAY) this.#draining = true;
        this.#forget(channel);
        // The codes are the server's to give: a client's RST is a reset whatever it says (a
        // client must not make a channel look refused by the backend in serve's log).
        const [close, reason] = this.#server !== null ? [CLOSE_RESET, RESET_REASON] : rstOutcome(code);
        this.#finish(channel, close, reason);
        return;
      }
      case WINDOW: {
        const increment = body.readUInt32BE(0);
        if (increment === 0) throw new ChannelProtocolError('channel frame: a WINDOW of 0');
        const credit = channel.credit + increment;
        if (credit > MAX_CREDIT) throw new ChannelProtocolError('channel frame: credit above 2^30');
        channel.credit = credit;
        this.#sendPending(channel);
        return;
      }
    }
  }

  /** The socket took `n` more bytes the peer sent: credit goes back in steps (§6b). */
  #consumed(channel: Channel, n: number): void {
    if (channel.done || channel.gotFin || !this.#open.has(channel.id)) return;
    const grant = this.#windows.consumed(channel, n);
    if (grant === 0) return;
    this.#writer.control(WINDOW, channel.id, grant);
    this.#schedule();
  }

  /** serve: a client's OPEN. */
  #peerOpened(id: number): void {
    const serving = this.#server;
    if (serving === null) throw new ChannelProtocolError('channel frame: OPEN from the server');
    if (id !== this.#highest + 1) throw new ChannelProtocolError('channel frame: OPEN out of order');
    if (this.#open.size >= MAX_OPEN_CHANNELS)
      throw new ChannelProtocolError('channel frame: too many channels');
    this.#highest = id;
    if (this.#draining || !serving.admit()) {
      this.#writer.control(RST, id, this.#draining ? RST_GOING_AWAY : RST_BUSY);
      this.#schedule();
      serving.refused(this.#draining ? 'draining' : 'limit');
      return;
    }
    const { channel, done } = this.#channel(id);
    const connecting = (channel.connecting = new AbortController());
    const attempt = serving.connect(connecting.signal).then((socket) => {
      channel.connecting = null;
      // Over, or its session is (#sessionOver() reports it): the backend is not needed.
      if (channel.done || this.session.state !== 'open') {
        socket?.destroy();
        return;
      }
      if (socket === null) {
        this.#reset(channel, RST_REFUSED);
        this.#finish(channel, CLOSE_BACKEND, BACKEND_REASON);
        return;
      }
      this.#attach(channel, socket);
    });
    // The slot stays taken until the connection attempt is over too (an OPEN and an RST at
    // once must not leave backend connections under way that no slot counts).
    void Promise.all([done, attempt]).then(([outcome]) =>
      serving.ended(outcome, channel.started, id, channel.socket !== null),
    );
  }

  // ---- ends ----

  /** Both FINs: the channel is closed on this side (its socket may still be writing). */
  #forgetIfClosed(channel: Channel): void {
    if (channel.sentFin && channel.gotFin) this.#forget(channel);
  }

  #forget(channel: Channel): void {
    if (!this.#open.delete(channel.id)) return;
    this.#closeIfIdle();
  }

  /** This side ends the channel: RST to the peer (if the session still carries it). */
  #reset(channel: Channel, code: number): void {
    if (!this.#open.has(channel.id)) return;
    this.#forget(channel);
    this.#writer.control(RST, channel.id, code);
    this.#schedule();
  }

  #socketClosed(channel: Channel, hadError: boolean): void {
    if (channel.done) return;
    // A normal end only if both directions ended with FIN and every byte reached the socket.
    if (!hadError && channel.sentFin && channel.gotFin && channel.output.finished) {
      this.#finish(channel, 1000, '');
      return;
    }
    this.#reset(channel, RST_RESET);
    this.#finish(channel, CLOSE_RESET, RESET_REASON);
  }

  #finish(channel: Channel, close: number | string, reason: string): void {
    if (channel.done) return;
    channel.done = true;
    this.#open.delete(channel.id);
    channel.connecting?.abort();
    channel.stopReading?.();
    channel.pending = null;
    channel.output.drop();
    const socket = channel.socket;
    if (socket !== null && !socket.destroyed && close !== 1000) socket.resetAndDestroy();
    channel.result({ sent: channel.sent, received: channel.output.written, close, reason });
    this.#live.delete(channel);
    this.#windows.release(channel);
    if (this.#live.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    this.#closeIfIdle();
  }

  #closeIfIdle(): void {
    // Not while abort() ends the channels: its own code closes the session.
    if (this.#draining && this.#open.size === 0 && this.#closeReason === null)
      this.#close(1000, 'going away');
  }

  /** Closes the session after the frames already packed (close() follows them in order). */
  #close(code: number, reason: string): void {
    if (this.session.state !== 'open') return;
    this.#writer.flush();
    void this.session.close(code, reason).catch(ignore);
  }

  /**
   * The session is over: every open channel ends with its reason; a closed one whose socket
   * is still writing is let finish after a normal end, else reset with the rest.
   */
  #sessionOver(): void {
    const { normal, close, reason } = sessionOutcome(this.session, this.#closeReason, this.#sessionError);
    for (const channel of [...this.#live]) {
      if (this.#open.has(channel.id) || !normal) this.#finish(channel, close, reason);
    }
  }
}
