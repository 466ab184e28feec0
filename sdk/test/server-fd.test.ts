/**
 * `Server.create({ fd })`: listening on an inherited socket, as under systemd socket
 * activation. A python3 parent binds the socket (as systemd does), moves it to fd 3 and
 * execs node on fixtures/fd-echo-server.ts, which listens with `Server.create({ fd: 3 })`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client, ErrorCode, Server, SessionError } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { ipv6Available } from './helpers/net.js';
import { loaderArgs } from './helpers/server-process.js';

const hasIPv6 = await ipv6Available();
const FIXTURE = fileURLToPath(new URL('./fixtures/fd-echo-server.ts', import.meta.url));
const KEY = fileURLToPath(new URL('./fixtures/server-2048.key', import.meta.url));

/** Binds a socket of `kind`, prints its port, puts it on fd 3 (inheritable) and execs argv[2:]. */
const PARENT = `
import json, os, socket, sys
kind = sys.argv[1]
if kind == 'tcp':
    s = socket.socket(socket.AF_INET); s.bind(('127.0.0.1', 0)); s.listen(16)
elif kind == 'tcp6':
    s = socket.socket(socket.AF_INET6); s.bind(('::1', 0)); s.listen(16)
elif kind == 'unix':
    s = socket.socket(socket.AF_UNIX); s.bind(''); s.listen(16)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
name = s.getsockname()
print(json.dumps({'port': name[1] if isinstance(name, tuple) else None}), flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[2], sys.argv[2:])
`;

type SocketKind = 'tcp' | 'tcp6' | 'unix' | 'udp';

interface Child {
  /** The port the parent bound (null for a Unix socket). */
  readonly boundPort: number | null;
  /** The server's line: `{ address }` or `{ error, message }`. */
  readonly report: { address?: { host: string; port: number }; error?: string; message?: string };
  /** Ends the child's stdin (the server stops) and resolves with its exit code. */
  stop(): Promise<number | null>;
}

async function startChild(t: ExecutionContext, kind: SocketKind): Promise<Child> {
  const child = spawn('python3', ['-c', PARENT, kind, process.execPath, ...loaderArgs(), FIXTURE, KEY, '3'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the ${kind} child ended without a line (is python3 installed?)`);
    return value as string;
  };
  const boundPort = (JSON.parse(await next()) as { port: number | null }).port;
  const report = JSON.parse(await next()) as Child['report'];
  return {
    boundPort,
    report,
    stop: async () => {
      child.stdin!.end();
      return (await exited)[0];
    },
  };
}

const listensOn = test.macro(async (t, kind: 'tcp' | 'tcp6', host: string) => {
  const child = await startChild(t, kind);
  t.deepEqual(child.report, { address: { host, port: child.boundPort! } });
  const client = Client.create(fixtureKeys().publicKey);
  const session = await client.connect(child.report.address!);
  await session.write('through fd 3');
  t.is((await session.read())?.toString(), 'through fd 3');
  await session.close();
  t.is(await child.stop(), 0);
});

test(
  'listens on an inherited IPv4 socket (fd 3, as systemd passes it) and reports its real address',
  listensOn,
  'tcp',
  '127.0.0.1',
);
(hasIPv6 ? test : test.skip)(
  'listens on an inherited IPv6 socket and reports its real address',
  listensOn,
  'tcp6',
  '::1',
);

test('an inherited Unix socket is refused by start() with ERR_TRANSPORT: not a TCP socket', async (t) => {
  const child = await startChild(t, 'unix');
  t.deepEqual(child.report, {
    error: ErrorCode.TRANSPORT,
    message: 'cannot listen on fd 3: not a TCP socket',
  });
  t.is(await child.stop(), 1);
});

test('an inherited UDP socket is refused by start() with ERR_TRANSPORT', async (t) => {
  const child = await startChild(t, 'udp');
  t.deepEqual(child.report, { error: ErrorCode.TRANSPORT, message: 'cannot listen on fd 3: EINVAL' });
  t.is(await child.stop(), 1);
});

test('an fd that is no socket makes start() reject with ERR_TRANSPORT, and the server stays idle', async (t) => {
  const fd = openSync(KEY, 'r');
  t.teardown(() => closeSync(fd));
  const server = Server.create({ fd }, fixtureKeys().privateKey, undefined, { workers: 1 });
  const err = await t.throwsAsync(server.start(), { instanceOf: SessionError, code: ErrorCode.TRANSPORT });
  t.is(err?.message, `cannot listen on fd ${fd}: EINVAL`);
  t.is((err?.cause as NodeJS.ErrnoException).code, 'EINVAL');
  t.false(server.listening);
  t.is(server.address, null);
  t.deepEqual(server.workerCounts, { decrypts: 0, verifies: 0, inline: 0 });
  // Never a second listen on that number: it may name another descriptor by now.
  await t.throwsAsync(server.start(), {
    instanceOf: SessionError,
    code: ErrorCode.INVALID_STATE,
    message: `fd ${fd} was used already`,
  });
  await server.stop();
});

test('create() checks an { fd } endpoint: TypeError / RangeError', (t) => {
  const key = fixtureKeys().privateKey;
  const create = (endpoint: unknown) => () => Server.create(endpoint as { fd: number }, key);
  t.throws(create({ fd: -1 }), {
    instanceOf: RangeError,
    message: 'endpoint.fd must be from 0 to 2147483647, got -1',
  });
  t.throws(create({ fd: 1.5 }), { instanceOf: TypeError, message: 'endpoint.fd must be an integer' });
  t.throws(create({ fd: '3' }), { instanceOf: TypeError, message: 'endpoint.fd must be an integer' });
  t.throws(create({ fd: 3, port: 4433 }), {
    instanceOf: TypeError,
    message: 'endpoint: give either { fd } or { host, port }, not both',
  });
  t.notThrows(create({ fd: 3 }));
});
