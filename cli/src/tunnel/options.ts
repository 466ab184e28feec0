/**
 * The options `serve` and `connect` share, as yargs declarations, and what they turn into:
 * the algorithm set, the log, the limits.
 */
import { cryptoBackends, PrivateKey, Symmetric } from '@secsess/sdk';
import type { AlgorithmSet, CryptoBackends, PrivateKeyFile } from '@secsess/sdk';
import type { Argv } from 'yargs';
import { readPassphraseFile } from '../passphrase.js';
import { LOG_FORMATS } from './conn-log.js';
import type { LogFormat } from './conn-log.js';

/** Options every `secsess` command has (declared globally in parser.ts). */
export interface TunnelArgs {
  verbose: boolean;
}

/** `--symmetric` values, as node:crypto names the ciphers. */
export const SYMMETRIC_CHOICES = ['chacha20-poly1305', 'aes-256-gcm', 'aes-256-cbc', 'aes-128-cbc'] as const;
export type SymmetricChoice = (typeof SYMMETRIC_CHOICES)[number];

const SYMMETRIC_OF: Readonly<Record<SymmetricChoice, Symmetric>> = {
  'chacha20-poly1305': Symmetric.CHACHA20POLY1305,
  'aes-256-gcm': Symmetric.AES256GCM,
  'aes-256-cbc': Symmetric.AES256,
  'aes-128-cbc': Symmetric.AES128,
};

/**
 * The command's default cipher (`connect --symmetric`), the fastest this process has:
 * ChaCha20-Poly1305 when its backend is sodium-native (libsodium, sealing in place, where
 * @secsess/native was not built), else AES-256-GCM (on @secsess/native: OpenSSL in place,
 * faster than its ChaCha20 on CPUs with AES instructions, measured in BENCHMARKS.md; or on
 * node:crypto). The library's default is CBC, for SecSess compatibility.
 */
export function defaultSymmetric(backends: CryptoBackends = cryptoBackends()): SymmetricChoice {
  return backends['chacha20-poly1305'] === 'sodium-native' ? 'chacha20-poly1305' : 'aes-256-gcm';
}

/** `--max-conns` default: sessions (serve) or local connections (connect --listen) at once. */
export const DEFAULT_MAX_CONNS = 1024;

/**
 * Largest message a tunnel session accepts from its peer (the SDK's default is 64 MiB). The
 * tunnel writes one message per socket or pipe chunk, at most 64 KiB: a peer that sends
 * more is not a secsess tunnel, and must not make the other side buffer megabytes a session.
 */
export const MAX_MESSAGE_SIZE = 256 * 1024;

/** `--drain-timeout` default, in seconds. */
export const DEFAULT_DRAIN_SECONDS = 30;

/**
 * Largest `--drain-timeout`, in seconds: node's timers hold at most 2^31 - 1 ms (about 24.8
 * days); a longer delay would fire at once (with a TimeoutOverflowWarning), ending the drain
 * immediately instead of never.
 */
export const MAX_DRAIN_SECONDS = 2147483;

/** The algorithm set of a `--symmetric` value. */
export function algorithmSet(symmetric: SymmetricChoice): AlgorithmSet {
  return { symmetric: SYMMETRIC_OF[symmetric] };
}

const LOG_FORMAT_DESCRIBE =
  'log lines on stderr: text (secsess: EVENT key=value …) or one JSON object a line';
const DRAIN_DESCRIBE =
  'on SIGTERM/SIGINT: seconds open sessions get to end on their own (a second signal: none)';

/** Throws the usage error of a bad `--drain-timeout`. */
function checkDrainTimeout(drain: number): void {
  if (!Number.isFinite(drain) || drain < 0 || drain > MAX_DRAIN_SECONDS)
    throw new Error(`--drain-timeout must be a number of seconds, 0 to ${MAX_DRAIN_SECONDS}`);
}

/** Throws the usage error of a bad `--max-conns`. */
function checkMaxConns(max: number): void {
  if (!Number.isInteger(max) || max < 1) throw new Error('--max-conns must be a whole number, 1 or more');
}

/** Options of both commands (`serve`'s; connect has them with --listen only: {@link listenModeOptions}). */
export function commonOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('log-format', {
      choices: LOG_FORMATS,
      default: 'text' as (typeof LOG_FORMATS)[number],
      describe: LOG_FORMAT_DESCRIBE,
    })
    .option('drain-timeout', { type: 'number', default: DEFAULT_DRAIN_SECONDS, describe: DRAIN_DESCRIBE })
    .check((argv) => {
      checkDrainTimeout(argv['drain-timeout']);
      return true;
    });
}

/** `--max-conns N`. */
export function maxConnsOption<T>(yargs: Argv<T>, describe: string) {
  return yargs.option('max-conns', { type: 'number', default: DEFAULT_MAX_CONNS, describe }).check((argv) => {
    checkMaxConns(argv['max-conns']);
    return true;
  });
}

/**
 * `connect`'s --log-format, --drain-timeout and --max-conns, which mean something with
 * --listen only: declared without a yargs default, so that one given in the stdio mode can be
 * told from one left out (a usage error, as --no-resume there); {@link listenModeDefaults}
 * fills them in.
 */
export function listenModeOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('log-format', {
      choices: LOG_FORMATS,
      defaultDescription: '"text"',
      describe: `with --listen: ${LOG_FORMAT_DESCRIBE}`,
    })
    .option('drain-timeout', {
      type: 'number',
      defaultDescription: String(DEFAULT_DRAIN_SECONDS),
      describe: `with --listen, ${DRAIN_DESCRIBE}`,
    })
    .option('max-conns', {
      type: 'number',
      defaultDescription: String(DEFAULT_MAX_CONNS),
      describe: 'with --listen: local connections at once; past it they are reset',
    })
    .check((argv) => {
      const given = (['log-format', 'drain-timeout', 'max-conns'] as const).find(
        (k) => argv[k] !== undefined,
      );
      if (given !== undefined && (argv as { listen?: unknown }).listen === undefined)
        throw new Error(`--${given} goes with --listen`);
      if (argv['drain-timeout'] !== undefined) checkDrainTimeout(argv['drain-timeout']);
      if (argv['max-conns'] !== undefined) checkMaxConns(argv['max-conns']);
      return true;
    });
}

/** The values of {@link listenModeOptions}, defaults filled in. */
export function listenModeDefaults(args: {
  'log-format'?: LogFormat | undefined;
  'drain-timeout'?: number | undefined;
  'max-conns'?: number | undefined;
}): { logFormat: LogFormat; drainSeconds: number; maxConns: number } {
  return {
    logFormat: args['log-format'] ?? 'text',
    drainSeconds: args['drain-timeout'] ?? DEFAULT_DRAIN_SECONDS,
    maxConns: args['max-conns'] ?? DEFAULT_MAX_CONNS,
  };
}

/**
 * `--passphrase-file FILE`: the passphrase of an encrypted `--key`, read as `secsess-keygen`
 * reads its own (one trailing newline dropped; missing or empty: ERR_PASSPHRASE_FILE).
 */
export function passphraseOption<T>(yargs: Argv<T>) {
  return yargs
    .option('passphrase-file', {
      type: 'string',
      describe: 'the passphrase of an encrypted --key, in this file (one trailing newline ignored)',
    })
    .check((argv) => {
      if (argv['passphrase-file'] !== undefined && (argv as { key?: unknown }).key === undefined)
        throw new Error('--passphrase-file goes with --key');
      return true;
    });
}

/**
 * `--key` with `--passphrase-file` as the SDK takes a key file: the path, or the path and a
 * function that reads the passphrase file each time the key is loaded (the SDK wipes it).
 */
export function keyInput(path: string, passphraseFile: string | undefined): string | PrivateKeyFile {
  if (passphraseFile === undefined) return path;
  return { path, passphrase: () => readPassphraseFile(passphraseFile, '--passphrase-file') };
}

/** Loads `--key` now (connect: once, for every session of the run), as {@link keyInput} says. */
export async function loadPrivateKey(path: string, passphraseFile: string | undefined): Promise<PrivateKey> {
  const input = keyInput(path, passphraseFile);
  if (typeof input === 'string') return PrivateKey.load(input);
  const passphrase = await input.passphrase();
  try {
    return await PrivateKey.load(path, { passphrase });
  } finally {
    if (Buffer.isBuffer(passphrase)) passphrase.fill(0);
  }
}
