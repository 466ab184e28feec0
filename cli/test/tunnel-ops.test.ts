/**
 * Operating `secsess` as a daemon, from outside the running processes: SIGHUP reloads the
 * keys and authorized_keys, SIGTERM drains (a second one ends the drain), --max-conns on
 * both sides, systemd socket activation (--listen systemd), --proxy-protocol.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { AuthorizedKeys, PublicKey } from '@secsess/keys';
import { runCli } from './helpers/cli.js';
import { READY_MS } from './helpers/programs.js';
import { connectArgs, exchange, readAll, serveArgs, tunnelFixture, TUNNEL_BIN } from './helpers/tunnel.js';
import type { Tunnel } from './helpers/tunnel.js';

const fx = tunnelFixture('ops');

function start(args: string[], launcher?: string[]): Tunnel {
  return fx.start(args, { launcher });
}

/**
 * A local connection through the tunnel that stays open: `say` sends and reads the echo;
 * `rest` is what comes after the last `say` until the end (rejects on a reset).
 */
async function openConnection(port: number) {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  let pending = '';
  let wake: (() => void) | null = null;
  const rest = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      pending += String(chunk);
      wake?.();
    });
    socket.on('end', () => resolve(pending));
    socket.on('error', reject);
  });
  rest.catch(() => {});
  await once(socket, 'connect');
  const say = async (text: string): Promise<string> => {
    socket.write(text);
    while (pending.length < text.length) await new Promise<void>((resolve) => (wake = resolve));
    const answer = pending;
    pending = '';
    return answer;
  };
  return { socket, say, rest };
}

test.serial(
  'SIGHUP reloads the key file and authorized_keys: new clients need the new key, open sessions go on',
  async (t) => {
    const keyFile = join(fx.dir, 'live.key');
    await copyFile(fx.keys.serverKey, keyFile);
    const authorized = join(fx.dir, 'live_authorized_keys');
    await AuthorizedKeys.add(authorized, await PublicKey.load(fx.keys.clientPub));
    const serve = start(serveArgs(keyFile, fx.echo.port, ['--authorized-keys', authorized]));
    const servePort = await serve.port();
    const old = start(connectArgs(servePort, fx.keys.serverPub, ['--key', fx.keys.clientKey]));
    const open = await openConnection(await old.port());
    t.is(await open.say('before'), 'before');

    await copyFile(fx.other.serverKey, keyFile);
    await AuthorizedKeys.add(authorized, await PublicKey.load(fx.other.clientPub));
    serve.child.kill('SIGHUP');
    const newFingerprint = (await PublicKey.load(fx.other.serverPub)).fingerprint();
    t.is(
      await serve.line(/^secsess: reload /),
      `secsess: reload fingerprints=${newFingerprint} added=1 removed=0`,
    );
    t.is(await open.say('after'), 'after', 'the session opened before the reload goes on');
    const fresh = start(connectArgs(servePort, fx.other.serverPub, ['--key', fx.other.clientKey]));
    t.is(String(await exchange(await fresh.port(), Buffer.from('new key'))), 'new key');
    const stale = await runCli(
      ['connect', `127.0.0.1:${servePort}`, '--server-pub', fx.keys.serverPub, '--key', fx.keys.clientKey],
      {
        bin: TUNNEL_BIN,
      },
    );
    t.regex(stale.stderr, /\[ERR_SERVER_KEY_MISMATCH\]/);

    // A key file that cannot be read: the keys in force stay, and the line says why.
    await writeFile(keyFile, 'not a key');
    serve.child.kill('SIGHUP');
    t.regex(
      await serve.line(/^secsess: reload error=/),
      /^secsess: reload error=ERR_KEY_FORMAT message=".+"$/,
    );
    t.is(String(await exchange(await fresh.port(), Buffer.from('still'))), 'still');
    open.socket.end();
    t.is(await serve.stop(), 0);
  },
);

test.serial(
  'SIGTERM drains serve: open sessions go on, new ones are refused, it stops when they end',
  async (t) => {
    const serve = start(serveArgs(fx.keys.serverKey, fx.echo.port));
    const servePort = await serve.port();
    // A session per connection: the new connection needs a new session, which finds nothing
    // listening (a channel on a session already open is refused by an RST instead:
    // tunnel-channels-limits.test.ts).
    const client = start(connectArgs(servePort, fx.keys.serverPub, ['--no-channels']));
    const port = await client.port();
    const open = await openConnection(port);
    t.is(await open.say('one'), 'one');
    serve.child.kill('SIGTERM');
    t.is(await serve.line(/^secsess: draining/), 'secsess: draining sessions=1');
    t.is(await open.say('two'), 'two', 'an open session keeps working during the drain');
    // A new connection finds nothing listening: the local connection is reset, the line says why.
    await t.throwsAsync(readAll(connect({ host: '127.0.0.1', port })));
    await client.line(/^secsess: refused peer=\S+ code=ERR_TRANSPORT$/);
    open.socket.end();
    t.is(await open.rest, '');
    t.is(await serve.exited, 0);
    t.deepEqual(
      serve.lines.slice(-2).map((l) => l.replace(/peer=\S+ .*/, '')),
      ['secsess: conn ', 'secsess: stopped'],
    );
  },
);

// Both ways a connection crosses: a channel of connect's one session (its conn lines name
// the channel), and a session of its own (--no-channels).
for (const [how, extra, channel] of [
  ['a channel', [], ' channel=1'],
  ['a session each (--no-channels)', ['--no-channels'], ''],
] as const) {
  test.serial(
    `a second SIGTERM ends the drain at once: sessions still open are closed 1001 (${how})`,
    async (t) => {
      const serve = start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--drain-timeout', '3600']));
      const client = start(
        connectArgs(await serve.port(), fx.keys.serverPub, ['--drain-timeout', '3600', ...extra]),
      );
      const open = await openConnection(await client.port());
      t.is(await open.say('hi'), 'hi');
      serve.child.kill('SIGTERM');
      await serve.line(/draining sessions=1/);
      serve.child.kill('SIGTERM');
      t.is(await serve.exited, 0);
      const cut = new RegExp(`close=1001 reason="server stopping"${channel}$`);
      t.regex((await serve.line(/conn /)) ?? '', cut);
      // The client side resets the local connection of a session the server cut.
      await t.throwsAsync(open.rest, { code: 'ECONNRESET' });
      t.regex(await client.line(/conn /), cut);
    },
  );
}

test.serial('connect --listen drains on SIGTERM; a second SIGTERM closes its sessions 1001', async (t) => {
  const serve = start(serveArgs(fx.keys.serverKey, fx.echo.port));
  // A session per connection, as the draining line counts them (connect's drain with a
  // channel session: tunnel-channels-limits.test.ts).
  const client = start(
    connectArgs(await serve.port(), fx.keys.serverPub, ['--drain-timeout', '3600', '--no-channels']),
  );
  const port = await client.port();
  const open = await openConnection(port);
  t.is(await open.say('a'), 'a');
  client.child.kill('SIGTERM');
  t.is(await client.line(/draining/), 'secsess: draining sessions=1');
  t.is(await open.say('b'), 'b');
  await t.throwsAsync(readAll(connect({ host: '127.0.0.1', port })), { code: 'ECONNREFUSED' });
  client.child.kill('SIGTERM');
  t.is(await client.exited, 0);
  t.regex(await client.line(/conn /), /close=1001 reason="client stopping"$/);
  t.is(client.lines.at(-1), 'secsess: stopped');
});

test.serial(
  '--max-conns: connect --listen resets the connection past it; serve refuses the session past it',
  async (t) => {
    const serve = start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--max-conns', '1']));
    const servePort = await serve.port();
    const client = start(connectArgs(servePort, fx.keys.serverPub, ['--max-conns', '1']));
    const port = await client.port();
    const open = await openConnection(port);
    t.is(await open.say('x'), 'x');
    const error = await t.throwsAsync(readAll(connect({ host: '127.0.0.1', port })));
    t.is((error as NodeJS.ErrnoException).code, 'ECONNRESET');
    await client.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_MAX_CONNS$/);
    const busy = await runCli(['connect', `127.0.0.1:${servePort}`, '--server-pub', fx.keys.serverPub], {
      bin: TUNNEL_BIN,
    });
    t.is(busy.code, 1);
    t.regex(busy.stderr, /\[ERR_SERVER_BUSY\]$/m);
    await serve.line(/^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_SERVER_BUSY limit=maxConnections$/);
    open.socket.end();
  },
);

/** Runs secsess with a listening socket on fd 3, as systemd does: python binds, then execs node. */
function socketActivated(args: string[], host = '127.0.0.1'): Tunnel {
  const script = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
    `s.bind(('${host}', 0))`,
    's.listen(64)',
    // The socket may be fd 3 already: then dup2 is a no-op and fd 3 keeps its close-on-exec.
    'if s.fileno() != 3: os.dup2(s.fileno(), 3)',
    'os.set_inheritable(3, True)',
    "os.environ['LISTEN_FDS'] = '1'",
    "os.environ['LISTEN_PID'] = str(os.getpid())",
    'os.execv(sys.argv[1], sys.argv[1:])',
  ].join('\n');
  return start(args, ['python3', '-c', script]);
}

test.serial(
  '--listen systemd takes the socket on fd 3 (LISTEN_FDS/LISTEN_PID), for serve and connect',
  async (t) => {
    const serve = socketActivated([
      'serve',
      '--listen',
      'systemd',
      '--key',
      fx.keys.serverKey,
      '--forward',
      `127.0.0.1:${fx.echo.port}`,
    ]);
    const servePort = await serve.port();
    t.true(servePort > 0);
    const client = socketActivated([
      'connect',
      '--listen',
      'systemd',
      '--to',
      `127.0.0.1:${servePort}`,
      '--server-pub',
      fx.keys.serverPub,
    ]);
    t.is(String(await exchange(await client.port(), Buffer.from('activated'))), 'activated');
    const none = await runCli(['serve', '--listen', 'systemd', '--key', fx.keys.serverKey, '--stdio'], {
      bin: TUNNEL_BIN,
    });
    t.is(none.code, 1);
    t.regex(none.stderr, /^secsess: --listen systemd: no socket was passed .*\[ERR_LISTEN_FDS\]$/m);
    // A passed socket that is not loopback, and no --authorized-keys: refused, as --listen 0.0.0.0.
    const open = socketActivated(
      ['serve', '--listen', 'systemd', '--key', fx.keys.serverKey, '--stdio'],
      '0.0.0.0',
    );
    t.is(await open.exited, 1);
    const openClient = socketActivated(
      ['connect', '--listen', 'systemd', '--to', `127.0.0.1:${servePort}`, '--server-pub', fx.keys.serverPub],
      '0.0.0.0',
    );
    t.is(await openClient.exited, 1);
    t.regex(
      openClient.lines.join('\n'),
      /--listen 0\.0\.0\.0 is not a loopback address.*\[ERR_UNSAFE_LISTEN\]$/,
    );
    t.regex(open.lines.join('\n'), /--listen systemd \(0\.0\.0\.0\) is not .*\[ERR_UNSAFE_ANY_CLIENT\]$/);
  },
);

test.serial(
  '--proxy-protocol: the backend gets a PROXY v2 header with the client address first',
  async (t) => {
    let header: Promise<Buffer> | undefined;
    const backend = createServer({ allowHalfOpen: true }, (socket) => {
      header = readAll(socket);
      socket.end('ok');
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const serve = start(
      serveArgs(fx.keys.serverKey, (backend.address() as AddressInfo).port, ['--proxy-protocol']),
    );
    const servePort = await serve.port();
    const client = start(connectArgs(servePort, fx.keys.serverPub));
    t.is(String(await exchange(await client.port(), Buffer.from('payload'))), 'ok');
    const bytes = await header!;
    const peerPort = Number(/peer=127\.0\.0\.1:(\d+)/.exec(await serve.line(/conn /))![1]);
    const expected = Buffer.alloc(28);
    Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(expected);
    expected.set([0x21, 0x11, 0, 12, 127, 0, 0, 1, 127, 0, 0, 1], 12);
    expected.writeUInt16BE(peerPort, 24);
    expected.writeUInt16BE(servePort, 26);
    t.deepEqual(bytes.subarray(0, 28), expected);
    t.is(String(bytes.subarray(28)), 'payload');
    backend.close();
  },
);

test.serial(
  'serve keeps serving when the reader of its stderr goes away (EPIPE on a log line)',
  async (t) => {
    const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port));
    const servePort = await serve.port();
    serve.child.stderr!.destroy();
    const client = fx.start(connectArgs(servePort, fx.keys.serverPub));
    const port = await client.port();
    // Each session ends with a conn line on serve's stderr, which nobody reads any more.
    for (const text of ['first', 'second', 'third']) {
      t.is(String(await exchange(port, Buffer.from(text))), text);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.is(serve.child.exitCode, null, 'serve is still running');
    t.is(await serve.stop(), 0);
  },
);

/**
 * Resolves once process `pid` catches SIGHUP (bit 0 of SigCgt in /proc/PID/status: bin.ts's
 * first lines installed their listener), bounded by READY_MS. A fixed wait instead was too
 * short for a loaded machine, where node had not reached that line and the SIGHUP killed it.
 * Without /proc (not Linux), one second.
 */
async function catchesSighup(pid: number): Promise<void> {
  const deadline = Date.now() + READY_MS;
  while (Date.now() < deadline) {
    let status: string;
    try {
      status = await readFile(`/proc/${pid}/status`, 'utf8');
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return;
    }
    const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (caught !== undefined && (BigInt(`0x${caught}`) & 1n) === 1n) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`process ${pid} did not catch SIGHUP within ${READY_MS} ms`);
}

test.serial('a SIGHUP during start-up does not kill serve: the reload it asked for follows', async (t) => {
  // The key file is a FIFO: serve's start-up waits on it until the test writes the key.
  const fifo = join(fx.dir, 'slow.key');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const key = await readFile(fx.keys.serverKey);
  const serve = start(serveArgs(fifo, fx.echo.port));
  await catchesSighup(serve.child.pid!);
  serve.child.kill('SIGHUP');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(serve.child.signalCode, null, 'killed by the SIGHUP');
  // Nobody would open the FIFO's other end: writing to it would wait forever.
  if (serve.child.signalCode !== null) return;
  await writeFile(fifo, key);
  t.true((await serve.port()) > 0);
  // The held SIGHUP: the reload reads the key file again.
  await writeFile(fifo, key);
  t.regex(await serve.line(/^secsess: reload /), /^secsess: reload fingerprints=/);
  t.is(await serve.stop(), 0);
});

test.serial(
  'a SIGTERM as soon as serve says listening reaches its handler: drained, stopped, exit 0',
  async (t) => {
    // The RSA worker threads start before `listening`; the stop listeners must be in place
    // before them (signals.ts holdEarlySignals), else the default action could kill serve.
    for (let i = 0; i < 8; i++) {
      const serve = start(serveArgs(fx.keys.serverKey, fx.echo.port));
      await serve.port();
      t.is(await serve.stop('SIGTERM'), 0, `round ${i}: ${serve.lines.join('\n')}`);
      t.true(
        serve.lines.some((l) => l.startsWith('secsess: stopped')),
        serve.lines.join('\n'),
      );
    }
  },
);

test.serial('a SIGTERM during start-up still ends serve (no handler of its own yet)', async (t) => {
  // The key file is a FIFO nobody writes: serve waits on it, before any listener of its own.
  const fifo = join(fx.dir, 'never.key');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const serve = start(serveArgs(fifo, fx.echo.port));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(await serve.stop('SIGTERM'), null);
  t.is(serve.child.signalCode, 'SIGTERM');
});
