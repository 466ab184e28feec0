/** Two sessions joined by an in-memory duplex pair, for the session unit tests. */
import { secureDuplex } from '../../src/index.js';
import type { SecureClientOptions, SecureServerOptions, Session } from '../../src/index.js';
import { duplexPair } from './duplex-pair.js';
import type { DuplexEnd } from './duplex-pair.js';
import { fixtureKeys } from './keys.js';

type ClientExtra = Omit<SecureClientOptions, 'role' | 'serverKey'>;
type ServerExtra = Omit<SecureServerOptions, 'role' | 'keys'>;

export interface SessionPair {
  readonly client: Session;
  readonly server: Session;
  /** The raw ends: bytes written to `clientEnd` reach the server session, and the reverse. */
  readonly clientEnd: DuplexEnd;
  readonly serverEnd: DuplexEnd;
}

export async function sessionPair(client: ClientExtra = {}, server: ServerExtra = {}): Promise<SessionPair> {
  const keys = fixtureKeys();
  const [clientEnd, serverEnd] = duplexPair();
  const [c, s] = await Promise.all([
    secureDuplex(clientEnd, { role: 'client', serverKey: keys.publicKey, ...client }),
    secureDuplex(serverEnd, { role: 'server', keys: keys.privateKey, ...server }),
  ]);
  return { client: c, server: s, clientEnd, serverEnd };
}
