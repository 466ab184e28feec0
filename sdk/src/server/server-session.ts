/**
 * A server-role session for an accepted socket: the key generation in force (its keys, its
 * worker pool's decrypt and verify), the accepted suites, the client-key check for the
 * client's address and the ticket context. Throws if the session cannot be made.
 */
import type { Socket } from 'node:net';
import type { Suite } from '../protocol/index.js';
import type { TicketContext } from '../protocol/index.js';
import { createSession } from '../stream/session.js';
import type { Session } from '../stream/session.js';
import type { ProxiedAddresses } from '../stream/session-types.js';
import type { Authorizer } from './authorization.js';
import type { KeyGeneration } from './server-keys.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { RemoteInfo } from './server-events.js';

export function createServerSession(
  socket: Socket,
  keys: KeyGeneration,
  remote: RemoteInfo,
  proxied: ProxiedAddresses | undefined,
  server: {
    readonly suites: Suite[] | undefined;
    readonly authorizer: Authorizer;
    readonly tickets: TicketContext | undefined;
    readonly options: ResolvedServerOptions;
  },
): Session {
  return createSession(
    socket,
    {
      role: 'server',
      connection: {
        keys: keys.keys,
        suites: server.suites,
        clientKeyAllowed: server.authorizer.allowsFrom(remote.address, remote.port),
        tickets: server.tickets,
        channels: server.options.channels,
      },
      decrypt: keys.decrypt,
      verify: keys.verify,
      proxied,
    },
    server.options,
  );
}
