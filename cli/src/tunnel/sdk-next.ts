/**
 * TEMPORARY, removed once the sdk's issue-15 work is merged: the session's half-close
 * (`session.end()`) and the server's operations (`Server.create({ fd })`, `reloadKeys()`,
 * `stop({ drain })`) as the contract names them, reached through one place while the
 * sdk in this branch does not have them yet.
 */
import { Server } from '@secsess/sdk';
import type { PrivateKeyInput, ServerOptions, Session, AlgorithmSet, EndpointInput } from '@secsess/sdk';

/** `session.end()`, or a full close where the sdk has no half-close yet. */
export function endSession(session: Session): Promise<void> {
  const end = (session as Session & { end?: () => Promise<void> }).end;
  return end ? end.call(session) : session.close();
}

/** `Server.create(endpoint | { fd }, …)`. */
export function createServer(
  endpoint: EndpointInput | { readonly fd: number },
  key: PrivateKeyInput,
  set: readonly AlgorithmSet[] | undefined,
  options: ServerOptions,
): Server {
  return Server.create(endpoint as EndpointInput, key, set, options);
}

/** `server.reloadKeys()`: the fingerprints now in force. */
export function reloadKeys(server: Server): Promise<string[]> {
  const reload = (server as Server & { reloadKeys?: () => Promise<string[]> }).reloadKeys;
  return reload ? reload.call(server) : Promise.reject(new Error('this sdk cannot reload keys yet'));
}

/** `server.stop({ drain })`. */
export function stopServer(server: Server, drain?: number): Promise<void> {
  return (server.stop as (options?: { drain?: number }) => Promise<void>).call(
    server,
    drain === undefined ? undefined : { drain },
  );
}
