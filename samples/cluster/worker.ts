/**
 * One worker of the cluster echo server: samples/cluster/server.ts forks it with
 * node:cluster, never a user. A secsess `Server` on the port every worker shares (the
 * primary holds the socket and hands each connection to one worker), with the same key
 * file and the ticket key the primary made. It echoes every message, and answers the
 * message `pid` with its process id, so a client can tell which worker serves it.
 *
 * RSA threads: the library's default, which in a cluster worker is one per process
 * (`ServerOptions.workers`): N workers keep N threads busy with RSA, not 2N.
 *
 * It stops gracefully (no new connections, open sessions get `drain` ms) when the primary
 * says `stop` or on its own SIGINT/SIGTERM (a terminal's Ctrl-C, or systemd's stop, reaches
 * every process of the group); a second signal, or the primary's `stop-now`, ends the wait.
 * If the primary dies, node:cluster ends its workers at once (their sessions with it).
 * Exit 0 after a stop, 1 if the server cannot start.
 */
import cluster from 'node:cluster';
import { Server } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import { CONFIG_ENV, TICKET_KEY_ENV, isCommand } from './messages.js';
import type { Listening, WorkerConfig } from './messages.js';

const PID = Buffer.from('pid');

function fail(message: string): never {
  console.error(`worker ${process.pid}: ${message}`);
  process.exit(1);
}

if (!cluster.isWorker) {
  console.error('worker.js is started by server.js (node:cluster), not by hand');
  process.exit(2);
}
const config = JSON.parse(process.env[CONFIG_ENV] ?? 'null') as WorkerConfig | null;
if (config === null) fail(`no ${CONFIG_ENV} in the environment`);
// Out of the environment before anything else runs: a child of this process would inherit it.
const ticketKey = Buffer.from(process.env[TICKET_KEY_ENV] ?? '', 'base64');
delete process.env[TICKET_KEY_ENV];
if (ticketKey.length !== 32) fail(`${TICKET_KEY_ENV} is not 32 bytes of base64`);

const server = Server.create({ host: config.host, port: config.port }, config.key, undefined, {
  // One ticket key for every worker: a client resumes on whichever worker it lands on.
  tickets: { keys: [ticketKey] },
});
server.on('session', (session) => void echo(session));
server.on('handshakeError', (err, remote) => {
  console.error(`worker ${process.pid}: handshake from ${remote.address}:${remote.port} failed: ${err.code}`);
});

let stopping = false;
/** A graceful stop; once one is under way, `now` ends its wait. */
function stop(now: boolean): void {
  if (stopping && !now) return;
  const first = !stopping;
  stopping = true;
  const done = server.stop(now ? {} : { drain: config!.drain });
  if (!first) return;
  void done.then(
    () => {
      if (cluster.worker!.isConnected()) cluster.worker!.disconnect();
      // Nothing should be left to keep the event loop alive; if something is, leave anyway.
      setTimeout(() => process.exit(0), 1000).unref();
    },
    (err: Error) => fail(`stop failed: ${err.message}`),
  );
}
process.on('message', (message) => {
  if (isCommand(message)) stop(message.type === 'stop-now');
});
process.on('SIGTERM', () => stop(stopping));
process.on('SIGINT', () => stop(stopping));
// No 'disconnect' handler: if the primary dies, node:cluster itself ends the worker at once.

try {
  await server.start();
} catch (err) {
  const e = err as { code?: string; message?: string };
  fail(`cannot start: ${e.code ?? 'ERR'}: ${e.message ?? String(err)}`);
}
if (!stopping) {
  const { host, port } = server.address!;
  process.send!({ type: 'listening', host, port } satisfies Listening);
}

/** Echoes one session's messages (`pid` gets this worker's pid) until the client is done. */
async function echo(session: Session): Promise<void> {
  try {
    for await (const message of session) {
      await session.write(message.equals(PID) ? String(process.pid) : message);
    }
    await session.close();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // A client that vanishes or a server stop is routine for an echo server.
    if (code !== 'ERR_CLOSED_BY_PEER' && code !== 'ERR_SESSION_CLOSED')
      console.error(
        `worker ${process.pid}: session ${session.remoteAddress}:${session.remotePort} ended: ${code}`,
      );
  }
}
