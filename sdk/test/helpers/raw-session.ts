/**
 * A raw client that completes a real handshake with the protocol core over a plain socket,
 * then does what no Session would: floods records of its choice, stops reading, drips
 * bytes. For the hostile tests that need an authenticated peer.
 */
import type { Socket } from 'node:net';
import type { PublicKey } from '../../src/index.js';
import { ClientConnection } from '../../src/protocol/index.js';
import type { AlgorithmSet } from '../../src/protocol/index.js';
import { rawFrom } from './attackers.js';
import { fixtureKeys } from './keys.js';

export interface RawSession {
  readonly socket: Socket;
  readonly conn: ClientConnection;
  /**
   * Records the core produces go here instead of the socket while non-null (so a flood can
   * be sealed in batches and written as one buffer); null: straight to the socket.
   */
  collect: Buffer[] | null;
}

/**
 * Connects to 127.0.0.1:`port`, completes the handshake (server key: the fixture key) and
 * stops reading: the socket is paused and nothing received is handled any more.
 */
export async function rawSession(
  port: number,
  options: { serverKey?: PublicKey; set?: AlgorithmSet } = {},
): Promise<RawSession> {
  const socket = await rawFrom(port);
  let session!: RawSession;
  const ready = new Promise<void>((resolve, reject) => {
    const conn = new ClientConnection(
      {
        send: (data) => {
          if (session.collect) session.collect.push(data);
          else socket.write(data);
        },
        established: () => resolve(),
        message: () => {},
        peerClosed: () => {},
      },
      { serverKey: options.serverKey ?? fixtureKeys().publicKey, set: options.set },
    );
    session = { socket, conn, collect: null };
    socket.on('data', (chunk: Buffer) => {
      try {
        conn.receive(chunk);
      } catch (err) {
        reject(err as Error);
      }
    });
    socket.once('close', () => reject(new Error('closed during the handshake')));
    conn.start();
  });
  await ready;
  socket.removeAllListeners('data');
  socket.pause();
  return session;
}
