/**
 * Datagram handshakes in memory: a DatagramClientHandshake talking to a
 * DatagramHandshakeGate and the DatagramServerHandshake it admits, packets handed over
 * directly (no sockets), every packet recorded.
 */
import type { Buffer } from 'node:buffer';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import { CookieJar } from '../../src/protocol/datagram/cookie.js';
import type { PacketSource } from '../../src/protocol/datagram/cookie.js';
import { DatagramClientHandshake } from '../../src/protocol/datagram/client-handshake.js';
import type { DatagramClientHandshakeOptions } from '../../src/protocol/datagram/client-handshake.js';
import { DatagramHandshakeGate } from '../../src/protocol/datagram/server-gate.js';
import type {
  DatagramServerHandshakeOptions,
  ScreenedHello,
} from '../../src/protocol/datagram/server-gate.js';
import type { DatagramServerHandshake } from '../../src/protocol/datagram/server-handshake.js';
import { verifyClientSignature } from '../../src/protocol/datagram/server-handshake.js';
import type { DatagramHandshakeResult } from '../../src/protocol/datagram/handshake-types.js';
import { fixturePrivateKey } from './protocol-pair.js';

export const SOURCE: PacketSource = { address: '127.0.0.1', port: 40_000 };

/** A settable clock for cookie jars and contexts. */
export class Clock {
  t = 1_000;
  readonly now = (): number => this.t;
}

export function serverKey(): PrivateKey {
  return fixturePrivateKey('server-2048');
}

export function makeGate(
  options: Partial<DatagramServerHandshakeOptions> = {},
  clock = new Clock(),
): { gate: DatagramHandshakeGate; jar: CookieJar; clock: Clock } {
  const jar = options.cookies ?? new CookieJar({ now: clock.now });
  const gate = new DatagramHandshakeGate({ keys: [serverKey()], ...options, cookies: jar });
  return { gate, jar, clock };
}

export interface Exchange {
  readonly client: DatagramClientHandshake;
  readonly handshake: DatagramServerHandshake;
  readonly clientResult: DatagramHandshakeResult;
  readonly serverResult: DatagramHandshakeResult;
  readonly clientFinished: Buffer;
  readonly handshakeDone: Buffer;
  /** Every packet sent, in order, with who sent it. */
  readonly packets: Array<{ from: 'client' | 'server'; packet: Buffer }>;
  readonly hello: ScreenedHello;
  /** The signature check the server ran, if the client authenticated. */
  readonly verified: boolean | null;
}

/**
 * One full handshake. Without `serverKey` the client asks for the key and trusts it (or
 * `trust(key)`'s answer). Throws whatever either side throws.
 */
export function exchange(
  clientOptions: DatagramClientHandshakeOptions = {},
  serverOptions: Partial<DatagramServerHandshakeOptions> = {},
  opts: { source?: PacketSource; gate?: DatagramHandshakeGate; trust?: (key: PublicKey) => boolean } = {},
): Exchange {
  const source = opts.source ?? SOURCE;
  const gate = opts.gate ?? makeGate(serverOptions).gate;
  const packets: Exchange['packets'] = [];
  const client = new DatagramClientHandshake(clientOptions);
  let now = 0;
  let toServer: Buffer | null = client.start(now);
  let handshake: DatagramServerHandshake | null = null;
  let hello: ScreenedHello | null = null;
  // Bounded: a handshake takes at most 8 packets each way here.
  for (let i = 0; i < 12; i++) {
    packets.push({ from: 'client', packet: toServer });
    const s = gate.screen(toServer, source);
    let answer: Buffer;
    if (s.kind === 'drop') throw new Error('server dropped a client packet');
    if (s.kind === 'reply') {
      if (s.what === 'alert') throw s.error;
      answer = s.packet;
    } else {
      const a = gate.acceptHello(s.hello, now);
      if (a.kind === 'refuse') throw a.error;
      handshake = a.handshake;
      hello = s.hello;
      answer = handshake.decryptLocally();
    }
    packets.push({ from: 'server', packet: answer });
    now += 10;
    const step = client.receive(answer, now);
    if (step.kind === 'send') toServer = step.packet;
    else if (step.kind === 'serverKey') {
      if (opts.trust && !opts.trust(step.key)) throw new Error('key not trusted');
      toServer = client.useServerKey(step.key, now);
    } else if (step.kind === 'open') {
      packets.push({ from: 'client', packet: step.clientFinished });
      let r = handshake!.receiveRecord(step.clientFinished, now);
      let verified: boolean | null = null;
      if (r.kind === 'verify') {
        verified = verifyClientSignature(r.request);
        r = handshake!.completeVerify(verified);
      }
      if (r.kind !== 'authorize') throw new Error(`server answered the ClientFinished with ${r.kind}`);
      const { result, handshakeDone } = handshake!.accept();
      packets.push({ from: 'server', packet: handshakeDone });
      return {
        client,
        handshake: handshake!,
        clientResult: step.result,
        serverResult: result,
        clientFinished: step.clientFinished,
        handshakeDone,
        packets,
        hello: hello!,
        verified,
      };
    } else {
      throw new Error('client ignored a server answer');
    }
  }
  throw new Error('handshake did not finish');
}
