import { ensureKeyDirectory, withFileLock } from '@secsess/keys';
import {
  generateTicketKey,
  MAX_TICKET_KEYS,
  readTicketKeyFile,
  ticketKeyName,
  writeTicketKeyFile,
} from '@secsess/sdk';
import type { Argv } from 'yargs';
import { CliError, CliErrorCode } from '../errors.js';
import type { Output } from '../io.js';
import { STDIN } from '../key-input.js';
import type { GlobalArgs } from './types.js';

/** Previous keys `--rotate` keeps by default: with the new one, 3 lines. */
export const DEFAULT_KEEP = 2;

function builder(yargs: Argv<GlobalArgs>) {
  return yargs
    .option('file', {
      alias: 'f',
      type: 'string',
      demandOption: true,
      describe: 'the ticket-key file (mode 0600; a missing directory is created 0700)',
    })
    .option('rotate', {
      type: 'boolean',
      default: false,
      describe: 'put a new issuing key first in an existing file, keeping the previous ones (--keep)',
    })
    .option('keep', {
      type: 'number',
      describe: `with --rotate: previous keys to keep, 0 to ${MAX_TICKET_KEYS - 1} (default ${DEFAULT_KEEP})`,
    })
    .option('list', {
      type: 'boolean',
      default: false,
      describe: 'print the names of the keys in the file; change nothing',
    })
    .option('force', {
      type: 'boolean',
      default: false,
      describe: 'without --rotate: replace an existing file with a new one of one key',
    })
    .check((args) => {
      const modes = (['rotate', 'list', 'force'] as const).filter((name) => args[name]);
      if (modes.length > 1) throw new Error(`--${modes[0]} and --${modes[1]} cannot be used together`);
      if (args.keep !== undefined && !args.rotate) throw new Error('--keep needs --rotate');
      const keep = args.keep;
      if (keep !== undefined && (!Number.isInteger(keep) || keep < 0 || keep > MAX_TICKET_KEYS - 1)) {
        throw new Error(`--keep must be an integer from 0 to ${MAX_TICKET_KEYS - 1}`);
      }
      return true;
    })
    .example('$0 ticket-key -f /etc/secsess/tickets.keys', 'a new ticket-key file of one key')
    .example(
      '$0 ticket-key --rotate -f /etc/secsess/tickets.keys',
      'a new issuing key; the 2 previous keys are still accepted (then SIGHUP every server)',
    )
    .example('$0 ticket-key --list -f tickets.keys --json', 'the key names, to compare across a fleet');
}

/** Options of `ticket-key`, as parsed. */
export type TicketKeyArgs = ReturnType<typeof builder> extends Argv<infer T> ? T : never;

/** A key as the command shows it: its name, never the key. */
interface ShownKey {
  /** 16 hex digits: HKDF-SHA256(K, "", "secsess v1 ticket name", 8). */
  name: string;
  /** The first key issues tickets; every key is accepted. */
  issuing: boolean;
  /** Made by this run. */
  new: boolean;
}

function show(keys: readonly Buffer[], fresh: number): ShownKey[] {
  return keys.map((key, index) => ({ name: ticketKeyName(key), issuing: index === 0, new: index < fresh }));
}

function lines(keys: readonly ShownKey[]): string[] {
  return keys.map(
    (key) => `${key.name}  ${key.issuing ? 'issues tickets' : 'accepted'}${key.new ? ' (new)' : ''}`,
  );
}

async function create(path: string, force: boolean, out: Output): Promise<void> {
  const keys = [generateTicketKey()];
  try {
    await ensureKeyDirectory(path);
    await writeTicketKeyFile(path, keys, { force });
    const shown = show(keys, 1);
    out.result([`wrote ${path} (mode 0600): 1 ticket key`, ...lines(shown)].join('\n'), {
      file: path,
      keys: shown,
      dropped: [],
    });
  } finally {
    for (const key of keys) key.fill(0);
  }
}

async function rotate(path: string, keep: number, out: Output): Promise<void> {
  // Read once before locking, so a missing or bad file is reported as itself (the lock
  // file would need its directory); the lock keeps two rotations at once from losing a key.
  for (const key of await readTicketKeyFile(path)) key.fill(0);
  const { keys, dropped } = await withFileLock(path, async () => {
    const old = await readTicketKeyFile(path);
    const next = [generateTicketKey(), ...old.slice(0, keep)];
    const gone = old.slice(keep);
    try {
      await writeTicketKeyFile(path, next, { force: true });
      return { keys: show(next, 1), dropped: gone.map((key) => ticketKeyName(key)) };
    } finally {
      for (const key of [...next, ...old]) key.fill(0);
    }
  });
  out.result(
    [
      `rotated ${path} (mode 0600): ${keys.length} ticket key${keys.length === 1 ? '' : 's'}` +
        (dropped.length === 0 ? '' : `, dropped ${dropped.join(', ')}`),
      ...lines(keys),
    ].join('\n'),
    { file: path, keys, dropped },
  );
}

async function list(path: string, out: Output): Promise<void> {
  const keys = await readTicketKeyFile(path);
  const shown = show(keys, 0);
  for (const key of keys) key.fill(0);
  out.result(
    [`${path}: ${keys.length} ticket key${keys.length === 1 ? '' : 's'}`, ...lines(shown)].join('\n'),
    {
      file: path,
      keys: shown,
      dropped: [],
    },
  );
}

async function execute(args: TicketKeyArgs & GlobalArgs, out: Output): Promise<void> {
  const path = args.file;
  if (path.trim() === '' || path === STDIN) {
    throw new CliError(CliErrorCode.USAGE, '--file needs the path of the ticket-key file');
  }
  if (args.list) return list(path, out);
  if (args.rotate) return rotate(path, args.keep ?? DEFAULT_KEEP, out);
  return create(path, args.force, out);
}

/** `secsess-keygen ticket-key -f FILE [--rotate [--keep N] | --list | --force]`. */
export const ticketKeyCommand = {
  command: 'ticket-key',
  describe: 'create, rotate or list a ticket-key file (session resumption for a server or fleet)',
  builder,
  execute,
};
