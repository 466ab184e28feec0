/**
 * A man-in-the-middle TCP proxy for the adversarial tests: it forwards between a client and
 * a server on 127.0.0.1 and hands every whole frame (found with the 4-byte frame header,
 * PROTOCOL.md §1) to a tamper function, which may forward it changed, drop it, repeat it,
 * hold it back, reflect it to its sender, or cut the connection mid-frame. Everything each
 * side sent is recorded, so a session can be replayed later.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';

export type Direction = 'c2s' | 's2c';

/** One whole frame on its way through the proxy. */
export interface FrameInfo {
  readonly direction: Direction;
  /** Frame type (0x17 for records). */
  readonly type: number;
  /** The whole frame, header included. */
  readonly frame: Buffer;
  /** Index among all frames in this direction. */
  readonly index: number;
  /** Index among records (type 0x17) in this direction; -1 for other frames. */
  readonly record: number;
}

/** What a tamper function can do with a frame. */
export interface Link {
  /** Sends bytes on to the frame's destination. */
  forward(data: Buffer): void;
  /** Sends bytes back to the frame's sender. */
  reflect(data: Buffer): void;
  /** Ends (FIN) the connection towards the destination. */
  end(): void;
  /** Resets (RST) the connection towards the destination and drops the other side. */
  reset(): void;
}

/** Decides the fate of each frame. Returning without calling `link` drops the frame. */
export type Tamper = (frame: FrameInfo, link: Link) => void;

/** Forwards everything untouched. */
export const passThrough: Tamper = (f, link) => link.forward(f.frame);

export interface Proxy {
  readonly port: number;
  readonly endpoint: string;
  /** Bytes each side sent through the proxy, per connection, in order of connection. */
  readonly recorded: Array<Record<Direction, Buffer[]>>;
  /** The local port of the proxy's connection to the server (the server's `remotePort`), per connection. */
  readonly upstreamPorts: number[];
  close(): Promise<void>;
}

const HEADER = 4;

/** Splits a byte stream into frames; a partial frame waits for more bytes. */
class Framer {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (this.#pending.length >= HEADER) {
      const total = HEADER + this.#pending.readUIntBE(1, 3);
      if (this.#pending.length < total) return;
      onFrame(this.#pending.subarray(0, total));
      this.#pending = this.#pending.subarray(total);
    }
  }
}

/** Starts a proxy on 127.0.0.1:0 in front of 127.0.0.1:`target`. */
export async function startProxy(target: number, tamper: Tamper = passThrough): Promise<Proxy> {
  const recorded: Proxy['recorded'] = [];
  const upstreamPorts: number[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((downstream) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    const at = upstreamPorts.push(0) - 1;
    upstream.once('connect', () => (upstreamPorts[at] = upstream.localPort!));
    const record: Record<Direction, Buffer[]> = { c2s: [], s2c: [] };
    recorded.push(record);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    const pipe = (direction: Direction, from: Socket, to: Socket): void => {
      const framer = new Framer();
      let index = 0;
      let records = 0;
      const link: Link = {
        forward: (data) => void (to.writable && to.write(data)),
        reflect: (data) => void (from.writable && from.write(data)),
        end: () => to.end(),
        reset: () => {
          to.resetAndDestroy();
          from.destroy();
        },
      };
      from.on('data', (chunk: Buffer) => {
        record[direction].push(Buffer.from(chunk));
        framer.push(chunk, (frame) => {
          const type = frame[0]!;
          tamper({ direction, type, frame, index: index++, record: type === 0x17 ? records++ : -1 }, link);
        });
      });
      from.on('end', () => to.end());
      from.on('close', () => to.destroy());
    };
    pipe('c2s', downstream, upstream);
    pipe('s2c', upstream, downstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    recorded,
    upstreamPorts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Tampers with record `n` (0 = the first record) in one direction only; forwards everything else. */
export function onRecord(direction: Direction, n: number, act: (f: FrameInfo, link: Link) => void): Tamper {
  return (f, link) => {
    if (f.direction === direction && f.record === n) act(f, link);
    else link.forward(f.frame);
  };
}

/** Tampers with frame `n` of any type (0 = the first frame) in one direction only. */
export function onFrame(direction: Direction, n: number, act: (f: FrameInfo, link: Link) => void): Tamper {
  return (f, link) => {
    if (f.direction === direction && f.index === n) act(f, link);
    else link.forward(f.frame);
  };
}

/** A copy of `frame` with one bit flipped at `at` (counted from the frame's start). */
export function flipped(frame: Buffer, at: number, bit = 0): Buffer {
  const out = Buffer.from(frame);
  out[at]! ^= 1 << bit;
  return out;
}
