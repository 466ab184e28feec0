/**
 * Socket reads into one buffer this thread's sockets share (net.Socket `onread`),
 * handed to the session as views: no buffer allocated per read, and no pass through the
 * socket's Readable (push, 'data' emit) on the way. A chunk is only valid during the call
 * that receives it; the session's core keeps nothing of it (the frame reader copies a
 * partial frame into its own buffer, and records are opened into buffers of their own), and during
 * the handshake, whose frames the core may keep, the session copies each chunk first.
 *
 * Sharing is safe because reads never overlap: libuv fills the buffer on the main thread
 * and the callback runs at once; one read is consumed before any other socket is read. A
 * session's reads are what came off the wire (ciphertext and handshake frames); a relay's
 * plain socket (`borrowReads`, `connectBorrowing`) leaves plaintext there until the next read
 * overwrites it, no longer than Node's own per-read buffers keep it (freed unwiped).
 *
 * The socket still pauses (`pause()` stops reading), ends and errors as usual.
 */
import { Buffer } from 'node:buffer';
import { Socket as NetSocket, connect as netConnect } from 'node:net';
import type { NetConnectOpts, Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';

/** One TCP read at most (libuv's usual suggestion). */
const READ_BUFFER_SIZE = 65536;

let shared: Buffer | null = null;

function dropChunk(): void {}

/** Where a socket's reads go until, and once, the session takes them. */
export class ReadFeed {
  #sink: ((chunk: Buffer) => void) | null = null;
  /** The read that came before anyone took them (copied: the buffer is reused). */
  #early: Buffer[] = [];
  /** Reading stopped at that read, until someone takes them. */
  #stopped = false;
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** The session takes the reads: first any that came early, then each as it comes. */
  attach(sink: (chunk: Buffer) => void): void {
    this.#sink = sink;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) sink(chunk);
    if (this.#stopped) {
      this.#stopped = false;
      // Reading again, unless the socket was paused meanwhile (its resume() restarts it then).
      const socket = this.#socket;
      if (!socket.destroyed && !socket.isPaused()) socket.resume();
    }
  }

  /** Nothing more is handed over: later reads are dropped (the reader is done with the socket). */
  detach(): void {
    this.#sink = dropChunk;
    this.#early = [];
  }

  /**
   * net.Socket's onread callback: `true` keeps reading (the taker pauses the socket itself);
   * before anyone takes the reads, one is kept and reading stops (`false`) until then, so
   * nothing is read without bound.
   */
  readonly callback = (nread: number, buf: Uint8Array): boolean => {
    const chunk = (buf as Buffer).subarray(0, nread);
    const sink = this.#sink;
    if (sink) {
      sink(chunk);
      return true;
    }
    this.#early.push(Buffer.from(chunk));
    this.#stopped = true;
    return false;
  };
}

const feeds = new WeakMap<Duplex, ReadFeed>();

/**
 * Takes the feed of a socket that reads into the shared buffer (`connectBorrowing`,
 * `borrowReads`), for the one taker its reads have: undefined for any other transport.
 * Throws if the socket reads into a buffer but its reads were taken already ('data' would
 * never come).
 */
export function takeFeed(transport: Readable): ReadFeed | undefined {
  const feed = feeds.get(transport as Duplex);
  if (feed !== undefined) {
    feeds.delete(transport as Duplex);
    return feed;
  }
  if (transport instanceof NetSocket && readsIntoBuffer(transport)) {
    throw new TypeError("this socket's reads are taken already (one taker per socket)");
  }
  return undefined;
}

/**
 * `net.connect(options)` whose reads go into this thread's shared read buffer (`onread`), as
 * the SDK's client sockets do: take them with {@link readBorrowed} (or make a session on
 * it); what arrives before is kept (copied) for the taker.
 */
export function connectBorrowing(options: NetConnectOpts): Socket {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  let feed: ReadFeed | null = null;
  // The callback is needed before the socket exists: it goes through `feed`, set at once.
  const callback = (nread: number, buf: Uint8Array): boolean => feed!.callback(nread, buf);
  const socket = netConnect({ ...options, onread: { buffer: shared, callback } });
  feed = new ReadFeed(socket);
  feeds.set(socket, feed);
  return socket;
}

/** node:net's own keys for a socket's `onread` state (lib/internal/stream_base_commons.js). */
interface OnreadKeys {
  readonly buffer: symbol;
  readonly callback: symbol;
}

/** Found once, on the first socket: undefined until then, null if this runtime has none. */
let onreadKeys: OnreadKeys | null | undefined;

/** Whether `socket` reads into a buffer of its own (`onread`, or `borrowReads`). */
function readsIntoBuffer(socket: Socket): boolean {
  const keys = onreadKeysOf();
  return keys !== null && (socket as unknown as Record<symbol, unknown>)[keys.buffer] != null;
}

function onreadKeysOf(): OnreadKeys | null {
  if (onreadKeys !== undefined) return onreadKeys;
  // Every net.Socket gets them in its constructor (null unless `onread` was given): read off
  // one made for the purpose (no handle, nothing opened), whatever socket asked.
  const own = Object.getOwnPropertySymbols(new NetSocket());
  const buffer = own.find((k) => k.description === 'kBuffer');
  const callback = own.find((k) => k.description === 'kBufferCb');
  onreadKeys = buffer && callback ? { buffer, callback } : null;
  return onreadKeys;
}

/** The handle of a socket, as far as reading into a buffer of one's own needs it. */
interface ReadHandle {
  readonly reading?: boolean;
  useUserBuffer?(buffer: Uint8Array): void;
}

/**
 * Makes a socket a server accepted (`pauseOnConnect`, nothing read yet: call it in the
 * 'connection' listener) read into this thread's one shared read buffer, as the SDK's client
 * sockets do (`onread`): no buffer allocated per read, which on a bulk stream saves more CPU
 * than the cipher costs (page faults and garbage collection of a 64 KiB buffer per read).
 * Its reads then reach whoever takes them, {@link readBorrowed} or a session made on it,
 * each chunk valid only during that call; pause(), resume(), 'end', 'error' and 'close' are
 * as usual. node:net offers `onread` only to the sockets it constructs for `connect()`: this
 * sets the same state on the accepted socket (the same object: a server's count of
 * connections and `net.server.socket` observers are not disturbed). Returns false, and
 * changes nothing (the socket reads through 'data' as usual), where that cannot be done:
 * a socket not paused or already read from, or a runtime without node:net's handle.
 */
export function borrowReads(accepted: Socket): boolean {
  const handle = (accepted as unknown as { _handle: ReadHandle | null })._handle;
  const keys = onreadKeysOf();
  const state = accepted as unknown as Record<symbol, unknown>;
  if (
    keys === null ||
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    handle.reading === true ||
    state[keys.buffer] != null ||
    accepted.destroyed ||
    !accepted.isPaused() ||
    accepted.readableLength > 0
  ) {
    return false;
  }
  const feed = new ReadFeed(accepted);
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  handle.useUserBuffer(shared);
  state[keys.buffer] = shared;
  state[keys.callback] = feed.callback;
  feeds.set(accepted, feed);
  return true;
}

/**
 * Hands each chunk `socket` reads to `sink` until the returned function is called: chunks
 * of a socket from {@link borrowReads} lie in the shared buffer and are valid only during
 * the call (copy what you keep), any other socket's come through 'data'. A socket's reads
 * go to one taker: this, or a session made on it.
 */
export function readBorrowed(socket: Readable, sink: (chunk: Buffer) => void): () => void {
  const feed = takeFeed(socket);
  if (feed !== undefined) {
    feed.attach(sink);
    return () => feed.detach();
  }
  socket.on('data', sink);
  return () => socket.off('data', sink);
}
