/**
 * Session resumption in the `secsess` command. `serve --ticket-keys FILE` issues and accepts
 * tickets under the keys of a ticket-key file (`secsess-keygen ticket-key`; several serve
 * processes or machines sharing the file accept each other's tickets), read again on SIGHUP;
 * `--ticket-lifetime SECONDS`, `--ticket-max-age SECONDS`. `connect --listen` resumes by default (`--no-resume`), with one
 * ticket store for the whole process. Only key names are ever printed, never keys.
 */
import {
  DEFAULT_TICKET_LIFETIME,
  DEFAULT_TICKET_MAX_AGE,
  readTicketKeyFile,
  TicketStore,
  ticketKeyName,
} from '@secsess/sdk';
import type { Server, TicketOptions } from '@secsess/sdk';
import type { Argv } from 'yargs';

/** Longest `--ticket-lifetime`: 7 days (PROTOCOL.md's bound on a ticket's lifetime). */
const MAX_TICKET_LIFETIME_SECONDS = 604800;

/** `serve`'s `--ticket-keys FILE`, `--ticket-lifetime SECONDS` and `--ticket-max-age SECONDS`. */
export function ticketOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('ticket-keys', {
      type: 'string',
      describe: 'issue and accept resumption tickets under the keys of this file (read again on SIGHUP)',
    })
    .option('ticket-lifetime', {
      type: 'number',
      describe: `with --ticket-keys: seconds a ticket is valid, 1 to ${MAX_TICKET_LIFETIME_SECONDS} (default ${DEFAULT_TICKET_LIFETIME})`,
    })
    .option('ticket-max-age', {
      type: 'number',
      describe:
        `with --ticket-keys: seconds a chain of resumptions may run after its last full handshake, ` +
        `1 to ${MAX_TICKET_LIFETIME_SECONDS} (default ${DEFAULT_TICKET_MAX_AGE})`,
    })
    .check((argv) => {
      for (const flag of ['ticket-lifetime', 'ticket-max-age'] as const) {
        const seconds = argv[flag];
        if (seconds === undefined) continue;
        if (argv['ticket-keys'] === undefined) throw new Error(`--${flag} goes with --ticket-keys`);
        if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TICKET_LIFETIME_SECONDS) {
          throw new Error(`--${flag} must be a whole number of seconds, 1 to ${MAX_TICKET_LIFETIME_SECONDS}`);
        }
      }
      return true;
    });
}

/** What `serve` parsed of the ticket options. */
export interface TicketArgs {
  readonly 'ticket-keys'?: string | undefined;
  readonly 'ticket-lifetime'?: number | undefined;
  readonly 'ticket-max-age'?: number | undefined;
}

/**
 * The server's `tickets` option from `--ticket-keys` (read now: a file that cannot be used
 * stops serve from starting), or undefined without it. The raw keys are wiped once the
 * server has prepared them: call `wipe()` after `Server.create`.
 */
export async function loadTickets(
  args: TicketArgs,
): Promise<{ options: TicketOptions; wipe(): void } | undefined> {
  const path = args['ticket-keys'];
  if (path === undefined) return undefined;
  const keys = await readTicketKeyFile(path);
  const lifetime = args['ticket-lifetime'];
  const maxAge = args['ticket-max-age'];
  return {
    options: {
      keys,
      ...(lifetime === undefined ? {} : { lifetime }),
      ...(maxAge === undefined ? {} : { maxAge }),
    },
    wipe: () => wipe(keys),
  };
}

/**
 * SIGHUP, first step: the ticket-key file read again (before anything else is reloaded, so a
 * bad file changes nothing). Returns what puts the keys in force, and their names.
 *
 * @throws KeyError from `readTicketKeyFile` (the keys in force stay)
 */
export async function rereadTickets(
  server: Server,
  args: TicketArgs,
): Promise<{ apply(): readonly string[] | null; wipe(): void }> {
  const path = args['ticket-keys'];
  if (path === undefined) return { apply: () => null, wipe: () => {} };
  const keys = await readTicketKeyFile(path);
  return {
    apply: () => {
      server.setTicketKeys(keys);
      return keys.map((key) => ticketKeyName(key));
    },
    wipe: () => wipe(keys),
  };
}

/** The ticket store of a `connect --listen` process, or undefined with `--no-resume`. */
export function ticketStore(resume: boolean): TicketStore | undefined {
  return resume ? new TicketStore() : undefined;
}

function wipe(keys: readonly Buffer[]): void {
  for (const key of keys) key.fill(0);
}
