/**
 * OpenSSH through `secsess connect HOST:PORT` as its ProxyCommand (stdin/stdout joined to one
 * session) to `secsess serve --forward` a throwaway sshd: its own config, host key and
 * authorized key, `sshd -D -e` (run as root in CI; as any user it logs in as that user).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import test from 'ava';
import { assertSecsessBuilt, connLines, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { programPath, runProgram } from './helpers/programs.js';
import { binEnv, SECSESS_BIN, startServe } from './helpers/secsess-bin.js';
import type { TunnelKeys } from './helpers/secsess-bin.js';
import { address, startSshd, writeRandomFile } from './helpers/services.js';
import type { Sshd } from './helpers/services.js';
import { readFile } from 'node:fs/promises';

test.before(() => assertSecsessBuilt());

const real = realTest(['ssh', 'sshd', 'ssh-keygen', 'sha256sum'], true);

const quote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/** `ssh -o ProxyCommand='node secsess.js connect SERVE --server-pub PUB' … user@alias command`. */
function ssh(
  sshd: Sshd,
  keys: TunnelKeys,
  serveAddress: string,
  command: string,
  input?: Buffer,
): ReturnType<typeof runProgram> {
  const proxy = [process.execPath, SECSESS_BIN, 'connect', serveAddress, '--server-pub', keys.serverPub];
  const args = [
    '-F',
    '/dev/null',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-i',
    sshd.identity,
    '-o',
    `UserKnownHostsFile=${sshd.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `HostKeyAlias=${sshd.hostAlias}`,
    '-o',
    `ProxyCommand=${proxy.map(quote).join(' ')}`,
    '-l',
    sshd.user,
    'tunnelled-host', // never resolved: the ProxyCommand makes the connection
    command,
  ];
  return runProgram(programPath('ssh'), args, { env: binEnv(), input, timeoutMs: 120_000 });
}

real(
  'ssh -o ProxyCommand="secsess connect HOST:PORT" logs in to a real sshd: true, then echo hello',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const sshd = await started(t, startSshd());
    const serve = await started(t, startServe(keys, address(sshd)));

    const yes = await ssh(sshd, keys, serve.address, 'true');
    t.deepEqual(yes.exit, { code: 0, signal: null }, yes.output);
    const hello = await ssh(sshd, keys, serve.address, 'echo hello');
    t.deepEqual(hello.exit, { code: 0, signal: null }, hello.output);
    t.is(hello.stdout, 'hello\n');

    await sshd.proc.waitFor(
      /Accepted publickey for \S+ from 127\.0\.0\.1[\s\S]*Accepted publickey/,
      'two logins',
    );
    // ssh closes its ProxyCommand's stdin, then sends it SIGHUP: secsess connect hangs up
    // with a Close, so serve logs a normal end, not a cut stream (ERR_TRUNCATED).
    const lines = await connLines(serve, 2);
    for (const line of lines) {
      t.like(line, { close: 1000 }, JSON.stringify(line));
      t.true(Number(line['up']) > 0 && Number(line['down']) > 0, JSON.stringify(line));
    }
  },
);

real('ssh through the tunnel pipes 5 MB to sha256sum on the far side and reads its answer', async (t) => {
  const { dir, keys } = await tunnelFiles(t);
  const file = join(dir, 'payload.bin');
  const sha = await writeRandomFile(file, 5_000_000);
  const sshd = await started(t, startSshd());
  const serve = await started(t, startServe(keys, address(sshd)));
  const data = await readFile(file);
  t.is(createHash('sha256').update(data).digest('hex'), sha);
  const result = await ssh(sshd, keys, serve.address, 'sha256sum', data);
  t.deepEqual(result.exit, { code: 0, signal: null }, result.output);
  t.is(result.stdout, `${sha}  -\n`);
  const [line] = await connLines(serve, 1);
  t.true(Number(line!['up']) > 5_000_000, JSON.stringify(line));
  t.like(line, { close: 1000 });
});
