/**
 * Socket reads into one buffer this thread's client sockets share (net.Socket `onread`),
 * handed to the session as views: no buffer allocated per read, and no pass through the
 * socket's Readable (push, 'data' emit) on the way. A chunk is only valid during the call
 * that receives it; the session's core keeps nothing of it (the frame reader copies a
 * partial frame into its own buffer, and records are opened into new buffers), and during
 * the handshake, whose frames the core may keep, the session copies each chunk first.
 *
 * Sharing is safe because reads never overlap: libuv fills the buffer on the main thread
 * and the callback runs at once; one read is consumed before any other socket is read. The
 * buffer holds only what came off the wire (ciphertext and handshake frames), never
 * plaintext, so it needs no wiping.
 *
 * The socket still pauses (`pause()` stops reading), ends and errors as usual.
 */
import { Buffer } from 'node:buffer';
import { connect as netConnect } from 'node:net';
import type { NetConnectOpts, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** One TCP read at most (libuv's usual suggestion). */
const READ_BUFFER_SIZE = 65536;

let shared: Buffer | null = null;

/** Where a socket's reads go until, and once, the session takes them. */
export class ReadFeed {
  #sink: ((chunk: Buffer) => void) | null = null;
  /** Reads that came before the session attached (copied: the buffer is reused). */
  #early: Buffer[] = [];

  /** The session takes the reads: first any that came early, then each as it comes. */
  attach(sink: (chunk: Buffer) => void): void {
    this.#sink = sink;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) sink(chunk);
  }

  /** net.Socket's onread callback: `true` keeps reading (the session pauses the socket itself). */
  readonly callback = (nread: number, buf: Uint8Array): boolean => {
    const chunk = (buf as Buffer).subarray(0, nread);
    const sink = this.#sink;
    if (sink) sink(chunk);
    else this.#early.push(Buffer.from(chunk));
    return true;
  };
}

const feeds = new WeakMap<Duplex, ReadFeed>();

/** The feed of a socket made by `connectBorrowing`, if `transport` is one. */
export function readFeedOf(transport: Duplex): ReadFeed | undefined {
  return feeds.get(transport);
}

/** `net.connect(options)` whose reads go through a ReadFeed (attach it, or nothing is read). */
export function connectBorrowing(options: NetConnectOpts): Socket {
  const feed = new ReadFeed();
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  const socket = netConnect({ ...options, onread: { buffer: shared, callback: feed.callback } });
  feeds.set(socket, feed);
  return socket;
}
