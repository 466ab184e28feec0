/**
 * The clients of the resumption group (bench/resume.ts), run in a child process of their
 * own (bench/child.ts `resume-load`) so that they never take the server's CPU in its own
 * process. Each of `concurrency` loops repeats, until the deadline: connect, one message
 * round trip (so that the session ticket has arrived: secsess's NewTicket is the first
 * record after ServerFinished, TLS 1.3's NewSessionTicket comes right after the handshake),
 * graceful close.
 *
 *   secsess          full handshakes (RSA-OAEP key transport, X25519)
 *   secsess-resumed  ResumeHello with the ticket of the loop's previous session (its own
 *                    TicketStore; the server issues a new ticket on every session)
 *   tls              node:tls TLS 1.3, full handshakes (RSA-2048 certificate)
 *   tls-resumed      TLS 1.3 psk_dhe_ke resumption: the loop's last 'session' passed as `session`
 *   tcp              raw TCP, the same round trip and close: the floor of any of them
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { PublicKey } from '@secsess/keys';
import { Client, TicketStore } from '@secsess/sdk';
import type { BenchFiles, Bits } from './kinds.js';

export type ResumeVariant = 'secsess' | 'secsess-resumed' | 'tls' | 'tls-resumed' | 'tcp';

export const RESUME_VARIANTS: readonly ResumeVariant[] = [
  'secsess',
  'secsess-resumed',
  'tls',
  'tls-resumed',
  'tcp',
];

export interface ResumeLoad {
  readonly variant: ResumeVariant;
  readonly port: number;
  readonly concurrency: number;
  /** How long the loops start new connections, ms. */
  readonly ms: number;
  /** secsess: the server key's size (the bench server holds both). Default 2048. */
  readonly bits?: Bits;
}

export interface ResumeLoadResult {
  /** Connections completed (handshake, round trip, close). */
  readonly count: number;
  /** Of them, resumed ones (as the client saw it). */
  readonly resumed: number;
  /** From the first connect to the last close, ms. */
  readonly elapsedMs: number;
  /** This client process's CPU time over the run, µs. */
  readonly clientCpu: number;
}

const MESSAGE = Buffer.alloc(16, 0x61);

/** One loop's connection maker: connect, round trip, close; resolves whether it was resumed. */
type Once = () => Promise<boolean>;

function secsessLoop(files: BenchFiles, port: number, resumed: boolean, bits: Bits): Once {
  const key = PublicKey.loadSync(files.rsa[bits].pub);
  // The library's default suite, as the handshake group's rows.
  const client = Client.create(key, undefined, resumed ? { resumption: new TicketStore() } : {});
  return async () => {
    const session = await client.connect({ host: '127.0.0.1', port });
    session.on('error', () => {});
    await session.write(MESSAGE);
    await session.read();
    const wasResumed = session.resumed;
    await session.close();
    return wasResumed;
  };
}

function tlsLoop(files: BenchFiles, port: number, resumed: boolean): Once {
  if (!files.tls) throw new Error(files.tlsError ?? 'no TLS certificate');
  const ca = readFileSync(files.tls[2048].cert);
  let ticket: Buffer | undefined;
  return async () => {
    const socket: TLSSocket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      servername: 'localhost',
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ...(resumed && ticket ? { session: ticket } : {}),
    });
    socket.setNoDelay(true);
    socket.on('error', () => {});
    // TLS 1.3 tickets arrive after the handshake; keep the newest for the next connection.
    if (resumed) socket.on('session', (session: Buffer) => (ticket = session));
    await once(socket, 'secureConnect');
    const wasResumed = socket.isSessionReused();
    const echoed = once(socket, 'data');
    socket.write(MESSAGE);
    await echoed;
    const closed = once(socket, 'close');
    socket.end();
    await closed;
    return wasResumed;
  };
}

function tcpLoop(port: number): Once {
  return async () => {
    const socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
    socket.on('error', () => {});
    await once(socket, 'connect');
    const echoed = once(socket, 'data');
    socket.write(MESSAGE);
    await echoed;
    const closed = once(socket, 'close');
    socket.end();
    await closed;
    return false;
  };
}

/** One loop of `variant`. */
function loopOf(files: BenchFiles, variant: ResumeVariant, port: number, bits: Bits): Once {
  const resumed = variant.endsWith('-resumed');
  if (variant === 'tcp') return tcpLoop(port);
  return variant.startsWith('tls') ? tlsLoop(files, port, resumed) : secsessLoop(files, port, resumed, bits);
}

/** The loops of each variant, port and concurrency, kept across requests (their tickets too). */
const loopSets = new Map<string, Once[]>();

/**
 * Runs `r.concurrency` loops of `r.variant` for `r.ms` ms. The loops are made on the first
 * request for that variant, port and concurrency, and each does one uncounted connection
 * then (a full handshake: no ticket yet); later requests reuse them, so the bench's warm-up
 * request takes those full handshakes and the measured ones are all resumed.
 */
export async function runResumeLoad(files: BenchFiles, r: ResumeLoad): Promise<ResumeLoadResult> {
  const bits = r.bits ?? 2048;
  const id = `${r.variant}/${r.port}/${r.concurrency}/${bits}`;
  let loops = loopSets.get(id);
  if (!loops) {
    loops = Array.from({ length: r.concurrency }, () => loopOf(files, r.variant, r.port, bits));
    loopSets.set(id, loops);
    await Promise.all(loops.map((one) => one()));
  }
  let count = 0;
  let resumedCount = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + r.ms;
  await Promise.all(
    loops.map(async (one) => {
      while (performance.now() < deadline) {
        if (await one()) resumedCount++;
        count++;
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { count, resumed: resumedCount, elapsedMs, clientCpu: cpu.user + cpu.system };
}
