/**
 * A key argument of a command: a file, or `-` for standard input (as `ssh-keygen -l -f -`),
 * so keys can be piped: `ssh-add -L | secsess-keygen authorize add -`.
 */
import { open } from 'node:fs/promises';
import {
  fingerprintKeyData,
  fingerprintKeyFile,
  inspectKeyData,
  inspectKeyFile,
  KeyError,
  KeyErrorCode,
  loadKey,
  loadKeyData,
  MAX_KEY_FILE_BYTES,
} from '@secsess/keys';
import type { KeyInspection, PrivateKey, PublicKey } from '@secsess/keys';

/** The argument that means standard input. */
export const STDIN = '-';

/** How messages and JSON name the key argument: the path, or `(stdin)`. */
export function keySourceName(arg: string): string {
  return arg === STDIN ? '(stdin)' : arg;
}

/** Where standard input comes from; tests of `run()` may pass another stream. */
export type ByteSource = AsyncIterable<Buffer | string>;

/**
 * Reads standard input to its end, refusing more than {@link MAX_KEY_FILE_BYTES} (a key
 * file is never that large) before buffering it.
 *
 * @throws KeyError `ERR_KEY_FORMAT` over the limit, `ERR_KEY_FILE_UNREADABLE` on a read error
 */
export async function readStdin(source: ByteSource = process.stdin): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > MAX_KEY_FILE_BYTES) {
        throw new KeyError(
          KeyErrorCode.FORMAT,
          `standard input is over ${MAX_KEY_FILE_BYTES} bytes, too large to be a key`,
        );
      }
      chunks.push(bytes);
    }
  } catch (error) {
    if (error instanceof KeyError) throw error;
    throw new KeyError(KeyErrorCode.FILE_UNREADABLE, 'cannot read the key from standard input', {
      cause: error,
    });
  }
  return Buffer.concat(chunks);
}

/** A key argument, opened: standard input is read once, here; a file is read when used. */
export interface KeyArg {
  /** The argument as given (`-` for standard input). */
  readonly arg: string;
  /** The path, or `(stdin)`, for messages. */
  readonly name: string;
  /** {@link loadKey} (permission check and passphrase handling included for files). */
  load(passphrase: Buffer | undefined): Promise<PrivateKey | PublicKey>;
  /** {@link inspectKeyFile}; `path` is the argument. */
  inspect(passphrase: Buffer | undefined): Promise<KeyInspection>;
  /** {@link fingerprintKeyFile}. */
  fingerprint(passphrase: Buffer | undefined): Promise<string>;
  /**
   * The raw bytes, for commands that read several public keys from one file (authorized_keys
   * lines); `undefined` if a file cannot be read here (then {@link load} reports why).
   */
  bytes(): Promise<Buffer | undefined>;
}

/** Opens a key argument: a file path, or `-` for standard input. */
export async function openKeyArg(arg: string, stdin: ByteSource = process.stdin): Promise<KeyArg> {
  if (arg === STDIN) {
    const data = await readStdin(stdin);
    return {
      arg,
      name: keySourceName(arg),
      load: async (passphrase) => loadKeyData(data, { passphrase }),
      inspect: async (passphrase) => ({ path: arg, ...inspectKeyData(data, { passphrase }) }),
      fingerprint: async (passphrase) => fingerprintKeyData(data, { passphrase }),
      bytes: async () => data,
    };
  }
  return {
    arg,
    name: arg,
    load: (passphrase) => loadKey(arg, { passphrase }),
    inspect: (passphrase) => inspectKeyFile(arg, { passphrase }),
    fingerprint: (passphrase) => fingerprintKeyFile(arg, { passphrase }),
    bytes: async () => {
      try {
        const handle = await open(arg, 'r');
        try {
          if ((await handle.stat()).size > MAX_KEY_FILE_BYTES) return undefined;
          return await handle.readFile();
        } finally {
          await handle.close();
        }
      } catch {
        return undefined;
      }
    },
  };
}
