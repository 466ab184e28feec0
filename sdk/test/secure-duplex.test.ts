/**
 * secureDuplex() takes what Client and Server take: a `{ readable, writable }` pair (a child
 * process's stdout and stdin), a client key, known_hosts trust, authorized_keys and an
 * authorize hook, decided by the same code as over TCP.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { ErrorCode, secureDuplex } from '../src/index.js';
import type { PeerInfo, SecureClientOptions, Session } from '../src/index.js';
import { duplexPair } from './helpers/duplex-pair.js';
import { fixtureKeys } from './helpers/keys.js';

const SCRIPT = fileURLToPath(new URL('fixtures/stdio-auth-server.ts', import.meta.url));
const SERVER_KEY = fileURLToPath(new URL('fixtures/server-2048.key', import.meta.url));
const OTHER_KEY = fileURLToPath(new URL('fixtures/other-2048.key', import.meta.url));
const serverKeys = fixtureKeys('server-2048');
const otherKeys = fixtureKeys('other-2048');
const clientKeys = fixtureKeys('client-2048');
/** The name known_hosts lists the child under (a pipe has no address). */
const PEER = 'stdio-child.example:4433';

/** The loader flags this test runs under (tsx, source conditions), for the child to use too. */
function loaderArgs(): string[] {
  const args = process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
  return args.some((a) => a.includes('tsx')) ? args : ['--import=tsx', '--conditions=source', ...args];
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-duplex-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Child {
  readonly stdio: { readable: NodeJS.ReadableStream; writable: NodeJS.WritableStream };
  /** Resolves with the child's exit code and stderr once it exited. */
  readonly exited: Promise<{ code: number | null; stderr: string }>;
}

/** The stdio server in a child process, holding `keyFile`, with authorized_keys if given. */
function stdioServer(t: ExecutionContext, keyFile: string, authorizedKeys?: string): Child {
  const args = [...loaderArgs(), SCRIPT, keyFile, ...(authorizedKeys ? [authorizedKeys] : [])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  t.teardown(() => {
    child.kill();
  });
  return { stdio: { readable: child.stdout, writable: child.stdin }, exited };
}

/** Connects as a client over the child's stdout/stdin, reads its greeting, echoes once, closes. */
async function greetAndEcho(child: Child, options: Omit<SecureClientOptions, 'role'>): Promise<string> {
  const session = await secureDuplex(
    child.stdio as never,
    { role: 'client', ...options } as SecureClientOptions,
  );
  const greeting = String(await session.read());
  await session.write('ping');
  const echoed = String(await session.read());
  await session.close();
  if (echoed !== 'ping') throw new Error(`echo: ${echoed}`);
  return greeting;
}

test("over a child process's { readable, writable } pair, a client key in authorized_keys gets in", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'authorized_keys');
  await writeFile(file, `${clientKeys.publicKey.toOpenSSH('client')}\n`, { mode: 0o600 });
  const child = stdioServer(t, SERVER_KEY, file);
  const greeting = await greetAndEcho(child, {
    serverKey: serverKeys.publicKey,
    clientKey: clientKeys.privateKey,
  });
  t.is(greeting, `client: ${clientKeys.publicKey.fingerprint()}`);
  const { code, stderr } = await child.exited;
  t.is(code, 0, stderr);
});

test('authorized_keys refuses an unlisted client key over a child process: ERR_NOT_AUTHORIZED both sides', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'authorized_keys');
  await writeFile(file, `${clientKeys.publicKey.toOpenSSH('client')}\n`, { mode: 0o600 });
  for (const clientKey of [otherKeys.privateKey, undefined]) {
    const child = stdioServer(t, SERVER_KEY, file);
    await t.throwsAsync(
      greetAndEcho(child, { serverKey: serverKeys.publicKey, ...(clientKey ? { clientKey } : {}) }),
      { code: ErrorCode.NOT_AUTHORIZED },
      clientKey ? 'an unlisted key' : 'no key',
    );
    const { code, stderr } = await child.exited;
    t.is(code, 1);
    t.regex(stderr, /stdio-auth-server: ERR_NOT_AUTHORIZED/);
  }
});

test('trust over a child process: strict refuses an unknown host, tofu records it, strict then connects, a changed key is named', async (t) => {
  const dir = await tempDir(t);
  const knownHosts = join(dir, 'known_hosts');
  const trust = (mode: 'strict' | 'tofu') => ({ trust: mode, knownHosts, peer: PEER }) as const;

  let child = stdioServer(t, SERVER_KEY);
  await t.throwsAsync(greetAndEcho(child, trust('strict')), { code: 'ERR_HOST_UNKNOWN' });
  await child.exited;

  child = stdioServer(t, SERVER_KEY);
  t.is(await greetAndEcho(child, trust('tofu')), 'client: none');
  t.is((await child.exited).code, 0);
  const recorded = await readFile(knownHosts, 'utf8');
  t.true(recorded.includes('[stdio-child.example]:4433'), recorded);
  t.true(recorded.includes(serverKeys.publicKey.toOpenSSH().split(' ')[1]!), recorded);

  child = stdioServer(t, SERVER_KEY);
  t.is(await greetAndEcho(child, trust('strict')), 'client: none');
  t.is((await child.exited).code, 0);

  // Another key behind the same name: refused in either mode, and the file is left alone.
  for (const mode of ['strict', 'tofu'] as const) {
    child = stdioServer(t, OTHER_KEY);
    await t.throwsAsync(greetAndEcho(child, trust(mode)), { code: 'ERR_HOST_KEY_CHANGED' }, mode);
    await child.exited;
  }
  t.is(await readFile(knownHosts, 'utf8'), recorded);
});

test('the authorize hook decides as on a Server, and a refusal rejects the server side with the reason', async (t) => {
  const seen: PeerInfo[] = [];
  const authorize = (peer: PeerInfo) => {
    seen.push(peer);
    return peer.clientFingerprint === clientKeys.publicKey.fingerprint();
  };
  const run = async (clientKey: typeof clientKeys.privateKey | undefined) => {
    const [a, b] = duplexPair();
    const server = secureDuplex(b, { role: 'server', keys: serverKeys.privateKey, authorize });
    server.catch(() => {});
    const client = await secureDuplex(a, {
      role: 'client',
      serverKey: serverKeys.publicKey,
      ...(clientKey ? { clientKey } : {}),
    });
    return { server, client };
  };
  const allowed = await run(clientKeys.privateKey);
  const session: Session = await allowed.server;
  t.true(session.clientKey?.equals(clientKeys.publicKey));
  await allowed.client.write('hello');
  t.is(String(await session.read()), 'hello');
  await allowed.client.close();

  for (const clientKey of [otherKeys.privateKey, undefined]) {
    const denied = await run(clientKey);
    await t.throwsAsync(denied.server, { code: ErrorCode.NOT_AUTHORIZED, message: /denied by hook/ });
    await t.throwsAsync(denied.client.read(), { code: ErrorCode.NOT_AUTHORIZED });
  }
  t.is(seen.length, 3);
  t.is(seen[0]!.remoteAddress, undefined);
  t.is(seen[2]!.clientKey, null);
});

test('secureDuplex checks its trust and client options', async (t) => {
  const [end] = duplexPair();
  const cases: Array<[unknown, RegExp]> = [
    [{ role: 'client', trust: 'strict' }, /options\.peer/],
    [{ role: 'client', trust: 'tofu', peer: PEER, serverKey: serverKeys.publicKey }, /either/],
    [
      { role: 'client', serverKey: serverKeys.publicKey, knownHosts: '/x' },
      /knownHosts needs options\.trust/,
    ],
    [{ role: 'client', trust: 'maybe', peer: PEER }, /'strict' or 'tofu'/],
    [{ role: 'client' }, /serverKey is required/],
    [{ role: 'client', serverKey: serverKeys.publicKey, clientKey: 42 }, /clientKey/],
    [{ role: 'server', keys: serverKeys.privateKey, authorize: 'yes' }, /authorize must be a function/],
    [{ role: 'server', keys: serverKeys.privateKey, authorizedKeys: 7 }, /authorizedKeys/],
    // Single use needs one memory shared by every connection: a duplex is one connection.
    [
      {
        role: 'server',
        keys: serverKeys.privateKey,
        tickets: { keys: [new Uint8Array(32)], singleUse: true },
      },
      /singleUse is not supported by secureDuplex\(\).*use a Server/,
    ],
  ];
  for (const [options, message] of cases) {
    await t.throwsAsync(secureDuplex(end, options as never), { instanceOf: TypeError, message });
  }
  await t.throwsAsync(secureDuplex({ readable: {}, writable: {} } as never, { role: 'server', keys: [] }), {
    message: /\{ readable, writable \} pair/,
  });
});
