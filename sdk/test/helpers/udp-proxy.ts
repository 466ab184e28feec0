/**
 * A hostile UDP relay for the datagram tests: clients send to the proxy, the proxy sends to
 * the server from one socket of its own per client (so the server sees the proxy's port as
 * the client's address), and every datagram either way passes a tamper function that may
 * forward it (changed or not, now or later, once or more), or drop it. Every datagram is
 * captured, so a test can replay any of them later, in either direction.
 *
 * `faults()` builds a tamper from probabilities (loss, duplication, reordering, delay, bit
 * flips) driven by a seeded PRNG: the same seed and the same arrival order give the same
 * fate to every datagram. Delays run on timers, so only their order is not deterministic.
 *
 * `rebind()` replaces a client's upstream socket, so its next datagrams reach the server
 * from a new source port: what a NAT that forgot its mapping does.
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket, SocketType } from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';

export type UdpDirection = 'c2s' | 's2c';

/** One datagram on its way through the proxy. */
export interface Datagram {
  readonly direction: UdpDirection;
  /** The payload as it arrived (a private copy). */
  readonly data: Buffer;
  /** Index among all datagrams of this direction (all clients). */
  readonly index: number;
  /** Which client (in order of first datagram) it belongs to. */
  readonly client: number;
}

/** What a tamper function can do with a datagram; doing nothing drops it. */
export interface UdpLink {
  /** Sends `data` (default: the datagram's bytes) on to its destination, after `delay` ms if given. */
  forward(data?: Buffer, delay?: number): void;
}

export type UdpTamper = (datagram: Datagram, link: UdpLink) => void;

/** Forwards everything untouched. */
export const passThrough: UdpTamper = (d, link) => link.forward();

export interface UdpProxyOptions {
  /** The server. */
  readonly target: { readonly address: string; readonly port: number };
  /** What to do with each datagram (default: pass it through). Can be changed later with `proxy.tamper = …`. */
  readonly tamper?: UdpTamper;
}

export interface UdpProxy {
  /** The port clients send to, on the target's loopback family. */
  readonly port: number;
  readonly address: string;
  /** `host:port` (IPv6 in brackets) for `connect()`. */
  readonly endpoint: string;
  /** The tamper function in use; replace it at any time. */
  tamper: UdpTamper;
  /** Every datagram that arrived, in order of arrival, both directions. */
  readonly captured: Datagram[];
  /** The captured datagrams of one direction. */
  of(direction: UdpDirection): Datagram[];
  /** Sends a datagram (a captured one, or any bytes) in `direction` for `client` now, bypassing the tamper. */
  inject(direction: UdpDirection, data: Buffer, client?: number): void;
  /** The source port the server currently sees for `client`. */
  upstreamPort(client?: number): number;
  /** Gives `client` a new upstream socket (new source port); resolves with the new port. */
  rebind(client?: number): Promise<number>;
  /** Counts of what the proxy did. */
  readonly stats: { forwarded: number; dropped: number };
  close(): Promise<void>;
}

interface ClientEntry {
  readonly address: string;
  readonly port: number;
  upstream: Socket;
  readonly retired: Socket[];
}

/** Starts a proxy on the loopback address of the target's family, port 0. */
export async function startUdpProxy(options: UdpProxyOptions): Promise<UdpProxy> {
  const family: SocketType = isIPv6(options.target.address) ? 'udp6' : 'udp4';
  const loopback = family === 'udp6' ? '::1' : '127.0.0.1';
  const front = createSocket(family);
  const clients: ClientEntry[] = [];
  const byAddress = new Map<string, number>();
  const captured: Datagram[] = [];
  const counts: Record<UdpDirection, number> = { c2s: 0, s2c: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const stats = { forwarded: 0, dropped: 0 };
  let closed = false;

  const send = (direction: UdpDirection, client: number, data: Buffer): void => {
    if (closed) return;
    const entry = clients[client];
    if (!entry) throw new Error(`no client ${client}`);
    stats.forwarded++;
    if (direction === 'c2s') entry.upstream.send(data, options.target.port, options.target.address);
    else front.send(data, entry.port, entry.address);
  };

  const arrive = (direction: UdpDirection, client: number, msg: Buffer): void => {
    if (closed) return;
    const datagram: Datagram = { direction, data: Buffer.from(msg), index: counts[direction]++, client };
    captured.push(datagram);
    let used = false;
    const link: UdpLink = {
      forward(data = datagram.data, delay) {
        used = true;
        const bytes = Buffer.from(data);
        if (delay === undefined || delay <= 0) return send(direction, client, bytes);
        const timer = setTimeout(() => {
          timers.delete(timer);
          send(direction, client, bytes);
        }, delay);
        timers.add(timer);
      },
    };
    proxy.tamper(datagram, link);
    if (!used) stats.dropped++;
  };

  const openUpstream = async (client: number): Promise<Socket> => {
    const socket = createSocket(family);
    socket.on('message', (msg: Buffer, from: RemoteInfo) => {
      if (from.port === options.target.port) arrive('s2c', client, msg);
    });
    socket.bind(0, loopback);
    await once(socket, 'listening');
    return socket;
  };

  const pending = new Map<string, Promise<number>>();
  front.on('message', (msg: Buffer, from: RemoteInfo) => {
    const key = `${from.address}|${from.port}`;
    const known = byAddress.get(key);
    if (known !== undefined) return arrive('c2s', known, msg);
    // A new client: its upstream socket binds first; datagrams arriving meanwhile wait in order.
    let opening = pending.get(key);
    if (!opening) {
      const index = clients.length;
      clients.push(undefined as unknown as ClientEntry);
      opening = openUpstream(index).then((upstream) => {
        clients[index] = { address: from.address, port: from.port, upstream, retired: [] };
        byAddress.set(key, index);
        pending.delete(key);
        return index;
      });
      pending.set(key, opening);
    }
    void opening.then((index) => arrive('c2s', index, msg));
  });
  front.bind(0, loopback);
  await once(front, 'listening');
  const port = front.address().port;

  const proxy: UdpProxy = {
    port,
    address: loopback,
    endpoint: family === 'udp6' ? `[::1]:${port}` : `127.0.0.1:${port}`,
    tamper: options.tamper ?? passThrough,
    captured,
    stats,
    of: (direction) => captured.filter((d) => d.direction === direction),
    inject: (direction, data, client = 0) => send(direction, client, Buffer.from(data)),
    upstreamPort(client = 0) {
      const entry = clients[client];
      if (!entry) throw new Error(`no client ${client}`);
      return entry.upstream.address().port;
    },
    async rebind(client = 0) {
      const entry = clients[client];
      if (!entry) throw new Error(`no client ${client}`);
      const fresh = await openUpstream(client);
      // The old socket stops listening too: a rebound NAT forgets the old mapping.
      entry.retired.push(entry.upstream);
      entry.upstream.removeAllListeners('message');
      entry.upstream = fresh;
      return fresh.address().port;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled(pending.values());
      const sockets = [front, ...clients.flatMap((c) => (c ? [c.upstream, ...c.retired] : []))];
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
  return proxy;
}

/** A small seeded PRNG (mulberry32): numbers in [0, 1), the same sequence for the same seed. */
export function seededPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Probabilities (0..1) of what happens to each datagram of a direction. */
export interface Faults {
  /** Dropped. */
  readonly loss?: number;
  /** Sent twice (the copy right after the original). */
  readonly duplicate?: number;
  /** Held back and sent after the next datagram of its direction (or after `holdMs`). */
  readonly reorder?: number;
  /** Delayed by a random 0..`maxDelay` ms. */
  readonly delay?: number;
  readonly maxDelay?: number;
  /** One random bit of the datagram flipped. */
  readonly flip?: number;
  /** How long a reordered datagram waits for a successor before it goes anyway (default 30 ms). */
  readonly holdMs?: number;
}

/** What `faults()` did, per direction. */
export interface FaultLog {
  lost: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  flipped: number;
}

/**
 * A tamper applying `faults` (per direction, or the same both ways) with a PRNG seeded by
 * `seed`. `skip(datagram)` exempts datagrams (e.g. the handshake) from every fault.
 */
export function faults(
  spec: Faults | Partial<Record<UdpDirection, Faults>>,
  seed: number,
  skip: (d: Datagram) => boolean = () => false,
): UdpTamper & { readonly log: Record<UdpDirection, FaultLog> } {
  const random = seededPrng(seed);
  const perDirection = (d: UdpDirection): Faults =>
    'c2s' in spec || 's2c' in spec
      ? ((spec as Partial<Record<UdpDirection, Faults>>)[d] ?? {})
      : (spec as Faults);
  const log: Record<UdpDirection, FaultLog> = {
    c2s: { lost: 0, duplicated: 0, reordered: 0, delayed: 0, flipped: 0 },
    s2c: { lost: 0, duplicated: 0, reordered: 0, delayed: 0, flipped: 0 },
  };
  const held: Record<UdpDirection, { release(): void } | null> = { c2s: null, s2c: null };
  const tamper: UdpTamper = (d, link) => {
    const f = perDirection(d.direction);
    const l = log[d.direction];
    // Every datagram draws the same number of values, so one fault's rate does not shift another's.
    const [rLoss, rDup, rReorder, rDelay, rDelayMs, rFlip, rBit] = Array.from({ length: 7 }, random);
    const previous = held[d.direction];
    held[d.direction] = null;
    if (skip(d)) {
      link.forward();
      previous?.release();
      return;
    }
    if (rLoss! < (f.loss ?? 0)) {
      l.lost++;
      previous?.release();
      return;
    }
    let data = d.data;
    if (rFlip! < (f.flip ?? 0) && data.length > 0) {
      data = Buffer.from(data);
      const bit = Math.floor(rBit! * data.length * 8);
      data[bit >> 3]! ^= 1 << (bit & 7);
      l.flipped++;
    }
    const delay = rDelay! < (f.delay ?? 0) ? Math.floor(rDelayMs! * (f.maxDelay ?? 20)) : 0;
    if (delay > 0) l.delayed++;
    const copies = rDup! < (f.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) l.duplicated++;
    const go = (): void => {
      for (let i = 0; i < copies; i++) link.forward(data, delay);
    };
    if (rReorder! < (f.reorder ?? 0)) {
      l.reordered++;
      let done = false;
      const release = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        go();
      };
      const timer = setTimeout(release, f.holdMs ?? 30);
      // The one held before (if any) goes now; this one waits for the next.
      previous?.release();
      held[d.direction] = { release };
      return;
    }
    go();
    previous?.release();
  };
  return Object.assign(tamper, { log });
}
