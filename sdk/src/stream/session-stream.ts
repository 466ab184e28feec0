/**
 * The Duplex byte-stream view of a session (`session.stream()`), for `stream.pipeline`
 * and APIs that want a stream. Writes become messages (a writev batch is written in one
 * tick, so the record writer packs it); the readable side pulls whole messages with
 * `read()`, only while the stream wants more, so backpressure reaches the transport.
 * Half-open like a net.Socket: the writable side's end sends End (`session.end()`), the
 * readable side ends at the peer's End (or a normal close); the session closes itself once
 * both have ended.
 *
 * Destroying the view ends the session. Without an error — or with the bare AbortError
 * Node's async iterator (and `destroyer()`) gives a Duplex whose writable side is not
 * finished, when a `for await` over it completes, breaks or throws — it ends gracefully:
 * `session.end()` if the peer has ended (the session then closes 1000), else
 * `session.close()`. With any other error (a failed pipeline, an aborted signal: those
 * AbortErrors carry a `cause`) it drops the transport, so the peer sees ERR_TRUNCATED and a
 * broken upload never looks complete.
 */
import { Duplex } from 'node:stream';

/**
 * What the view needs of a session: the view depends on this shape only, so the session
 * (which creates its view) and the view do not import each other.
 */
export interface StreamSource {
  readonly state: string;
  readonly readableEnded: boolean;
  read(): Promise<Buffer | null>;
  write(data: Buffer): Promise<void>;
  end(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

export function createSessionStream(session: StreamSource): Duplex {
  let pumping = false;
  const stream: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (pumping) return;
      pumping = true;
      void pump();
    },
    write(chunk: Buffer, _encoding, callback) {
      session.write(chunk).then(() => callback(), callback);
    },
    writev(chunks, callback) {
      Promise.all(chunks.map((c) => session.write(c.chunk as Buffer))).then(() => callback(), callback);
    },
    final(callback) {
      // On a session already closing or closed there is nothing left to end: wait for the close.
      const ending = session.state === 'open' ? session.end() : session.close();
      ending.then(() => callback(), callback);
    },
    destroy(error, callback) {
      if (error && !isIteratorStop(error)) session.destroy();
      else if (session.state === 'open') {
        (session.readableEnded ? session.end() : session.close()).catch(() => {});
      }
      callback(error);
    },
  });

  async function pump(): Promise<void> {
    try {
      // Each turn waits for one message; the loop stops when the stream is full.
      for (;;) {
        const message = await session.read();
        if (message === null) {
          stream.push(null);
          return;
        }
        // An empty message carries no bytes; pushing it would stall the stream.
        if (message.length > 0 && !stream.push(message)) return;
      }
    } catch (err) {
      stream.destroy(err as Error);
    } finally {
      pumping = false;
    }
  }

  return stream;
}

/**
 * Whether `error` is the AbortError Node's stream `destroyer()` makes for a stream it
 * stops without an error (`new AbortError()`: no cause), as the async iterator does at the
 * end of a `for await`. An abort signal's AbortError has the signal's reason as `cause`.
 */
function isIteratorStop(error: Error): boolean {
  return (
    error.name === 'AbortError' &&
    (error as { code?: unknown }).code === 'ABORT_ERR' &&
    error.cause === undefined
  );
}
