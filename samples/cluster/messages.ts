/**
 * What the cluster echo server's primary (server.ts) and its workers (worker.ts) say to each
 * other: the worker's configuration in its environment (set by `cluster.fork`), and the
 * messages over the IPC channel node:cluster gives every worker.
 */

/** The worker's configuration, JSON (a {@link WorkerConfig}). */
export const CONFIG_ENV = 'SECSESS_CLUSTER_CONFIG';
/**
 * The ticket key, base64 of 32 random bytes, made once by the primary so that every worker
 * (and every replacement) seals and opens the same resumption tickets. The worker takes it
 * out of its environment at once, so programs it might start do not inherit it (Linux still
 * shows a process's first environment in /proc/PID/environ, to its own user only — who can
 * read the server's key file anyway). A fleet of machines shares a ticket-key file instead.
 */
export const TICKET_KEY_ENV = 'SECSESS_TICKET_KEY';

export interface WorkerConfig {
  /** The server's private key file; every worker reads the same one. */
  readonly key: string;
  readonly host: string;
  /** The shared port (0 on the first start: the primary binds one and every worker gets it). */
  readonly port: number;
  /** How long a graceful stop lets open sessions finish, ms. */
  readonly drain: number;
}

/** Worker → primary, once its server listens. */
export interface Listening {
  readonly type: 'listening';
  readonly host: string;
  readonly port: number;
}

/**
 * Primary → worker: `stop` stops gracefully (no new sessions, open ones get `drain` ms),
 * `stop-now` ends a stop's wait (a second SIGTERM).
 */
export type Command = { readonly type: 'stop' } | { readonly type: 'stop-now' };

export function isListening(message: unknown): message is Listening {
  const m = message as Partial<Listening> | null;
  return typeof m === 'object' && m !== null && m.type === 'listening' && typeof m.port === 'number';
}

export function isCommand(message: unknown): message is Command {
  const m = message as Partial<Command> | null;
  return typeof m === 'object' && m !== null && (m.type === 'stop' || m.type === 'stop-now');
}
