/**
 * A child process for the concurrency tests. It prints `ready`, waits for one line on
 * stdin (so every child starts writing at once), does its work, prints one JSON line
 * and exits 0; a coded error is printed as `{"code": …}`.
 *
 *   node --import=tsx --conditions=source store-writer.ts COMMAND FILE ARGS…
 *
 *   known-hosts FILE KEYFILE PREFIX COUNT   add hosts PREFIX-0.test … on ports 7000…, then common.test:7000
 *   tofu FILE KEYFILE HOST PORT             verifyHostKey(…, 'tofu')
 *   authorize FILE KEYFILE…                 AuthorizedKeys.add each key
 *   count FILE TIMES                        TIMES × withFileLock(FILE, read n, write n + 1)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import {
  AuthorizedKeys,
  KnownHosts,
  PublicKey,
  SecsessError,
  verifyHostKey,
  withFileLock,
} from '@secsess/keys';

const [command, file, ...rest] = process.argv.slice(2);

// Generous: these tests are about correctness, and a loaded machine may serialise dozens of
// lock holders; the 5 s default is exercised by file-lock.test.ts.
const lock = { timeoutMs: 60_000 };

async function work(): Promise<unknown> {
  if (file === undefined) throw new Error('FILE is required');
  switch (command) {
    case 'known-hosts': {
      const [keyFile, prefix, count] = rest;
      const key = await PublicKey.load(keyFile ?? '');
      const knownHosts = await KnownHosts.open(file, { lock });
      const lines: number[] = [];
      for (let i = 0; i < Number(count); i++) {
        lines.push((await knownHosts.add(`${prefix}-${i}.test`, 7000 + i, key, `${prefix} ${i}`)).line);
      }
      const common = await knownHosts.add('common.test', 7000, key);
      return { lines, common };
    }
    case 'tofu': {
      const [keyFile, host, port] = rest;
      const key = await PublicKey.load(keyFile ?? '');
      return verifyHostKey(file, host ?? '', Number(port), key, 'tofu', { lock });
    }
    case 'authorize': {
      const results = [];
      for (const keyFile of rest) {
        results.push(await AuthorizedKeys.add(file, await PublicKey.load(keyFile), undefined, { lock }));
      }
      return results;
    }
    case 'count': {
      for (let i = 0; i < Number(rest[0]); i++) {
        await withFileLock(
          file,
          async () => {
            const value = Number(await readFile(file, 'utf8'));
            // Yield between read and write, so an unlocked version would lose updates.
            await new Promise((resolve) => setImmediate(resolve));
            await writeFile(file, String(value + 1));
          },
          lock,
        );
      }
      return { done: true };
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

process.stdout.write('ready\n');
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');
process.stdin.pause();
try {
  process.stdout.write(`${JSON.stringify({ ok: await work() })}\n`);
} catch (error) {
  if (!(error instanceof SecsessError)) throw error;
  process.stdout.write(`${JSON.stringify({ code: error.code, message: error.message })}\n`);
}
