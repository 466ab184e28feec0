import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { secureDuplex } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { numbered } from './helpers/net.js';

const SCRIPT = fileURLToPath(new URL('fixtures/stdio-echo-server.ts', import.meta.url));
const KEY = fileURLToPath(new URL('fixtures/server-2048.key', import.meta.url));

/** The loader flags this test runs under (tsx, source conditions), for the child to use too. */
function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

test("a session runs over a child process's stdin and stdout", async (t) => {
  const child = spawn(process.execPath, [...loaderArgs(), SCRIPT, KEY], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit');
  t.teardown(() => child.kill());
  const transport = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const session = await secureDuplex(transport, { role: 'client', serverKey: fixtureKeys().publicKey });
  t.is(session.remoteAddress, undefined);
  for (const size of [0, 1, 1000, 70_000, 1 << 20]) {
    const message = numbered(size, size);
    await session.write(message);
    t.true((await session.read())?.equals(message), `${size} bytes`);
  }
  await session.close();
  t.is(session.closeCode, 1000);
  const [code] = await exited;
  t.is(code, 0, stderr);
});
