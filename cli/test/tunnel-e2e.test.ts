/**
 * `secsess serve` and `secsess connect` end to end, as real processes of the built bin:
 * echo through connect --listen → serve --forward with half-close, the stdio modes, the
 * log lines (text and JSON), a backend that refuses, resets carried across the tunnel.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { refusedPort } from './helpers/refused-port.js';
import { connectArgs, exchange, readAll, serveArgs, tunnelFixture, TUNNEL_BIN } from './helpers/tunnel.js';

const fx = tunnelFixture('e2e');

/** A serve → forward and a connect --listen in front of it; the local port. */
async function pair(forwardPort: number, extra: { serve?: string[]; connect?: string[] } = {}) {
  const serve = fx.start(serveArgs(fx.keys.serverKey, forwardPort, extra.serve));
  const servePort = await serve.port();
  const client = fx.start(connectArgs(servePort, fx.keys.serverPub, extra.connect));
  return { serve, client, servePort, port: await client.port() };
}

test.serial(
  'echo through connect --listen and serve --forward, half-closed: the whole reply comes after the FIN',
  async (t) => {
    const { serve, client, port } = await pair(fx.echo.port);
    const data = randomBytes(5_000_000);
    const reply = await exchange(port, data);
    t.true(reply.equals(data), `echoed ${reply.length} of ${data.length} bytes`);
    const [serveLine] = await serve.linesMatching(/^secsess: conn /, 1);
    const [clientLine] = await client.linesMatching(/^secsess: conn /, 1);
    t.regex(
      serveLine!,
      /^secsess: conn peer=127\.0\.0\.1:\d+ client=- resumed=no up=5000000 down=5000000 ms=\d+ close=1000 channel=1$/,
    );
    t.regex(
      clientLine!,
      /^secsess: conn peer=127\.0\.0\.1:\d+ server=SHA256:\S{43} resumed=no up=5000000 down=5000000 ms=\d+ close=1000 channel=1$/,
    );
    t.regex(serve.lines[0]!, /^secsess: listening address=127\.0\.0\.1:\d+ forward=127\.0\.0\.1:\d+$/);
    t.regex(client.lines[0]!, /^secsess: listening address=127\.0\.0\.1:\d+ to=127\.0\.0\.1:\d+$/);
    t.is(await serve.stop(), 0);
    t.is(await client.stop(), 0);
    t.regex(serve.lines.at(-1)!, /^secsess: stopped$/);
  },
);

test.serial(
  'connect HOST:PORT joins stdin/stdout to one session: serve --stdio --once writes it to stdout',
  async (t) => {
    const serve = fx.start([
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--key',
      fx.keys.serverKey,
      '--stdio',
      '--once',
    ]);
    const received: Buffer[] = [];
    serve.child.stdout!.on('data', (chunk: Buffer) => received.push(chunk));
    const port = await serve.port();
    const file = join(fx.dir, 'payload');
    const payload = randomBytes(3_000_000);
    await writeFile(file, payload);
    const sender = spawn(
      process.execPath,
      [TUNNEL_BIN, 'connect', `127.0.0.1:${port}`, '--server-pub', fx.keys.serverPub],
      {
        stdio: [openSync(file, 'r'), 'pipe', 'pipe'],
      },
    );
    const [code] = await once(sender, 'exit');
    t.is(code, 0);
    t.is(await serve.exited, 0);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    t.is(sha(Buffer.concat(received)), sha(payload));
    t.regex(
      serve.lines.join('\n'),
      /conn peer=127\.0\.0\.1:\d+ client=- resumed=no up=3000000 down=0 ms=\d+ close=1000/,
    );
  },
);

test.serial(
  'connect HOST:PORT answers on stdout what the server side writes, until the server ends',
  async (t) => {
    const { servePort } = await pair(fx.echo.port);
    const child = spawn(
      process.execPath,
      [TUNNEL_BIN, 'connect', `127.0.0.1:${servePort}`, '--server-pub', fx.keys.serverPub],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const out = readAll(child.stdout as never);
    child.stdin!.end('ping through stdio\n');
    const [code] = await once(child, 'exit');
    t.is(code, 0);
    t.is((await out).toString(), 'ping through stdio\n');
  },
);

test.serial('--log-format json: one JSON object a line with the documented fields', async (t) => {
  const { serve, client, port } = await pair(fx.echo.port, {
    serve: ['--log-format', 'json'],
    connect: ['--log-format', 'json', '--key', fx.keys.clientKey],
  });
  await exchange(port, Buffer.from('json please'));
  const [serveConn] = await serve.linesMatching(/"event":"conn"/, 1);
  const [clientConn] = await client.linesMatching(/"event":"conn"/, 1);
  const doc = JSON.parse(serveConn!) as Record<string, unknown>;
  t.deepEqual(Object.keys(doc), [
    'time',
    'event',
    'side',
    'peer',
    'fingerprint',
    'resumed',
    'up',
    'down',
    'durationMs',
    'close',
    'reason',
    'channel',
  ]);
  t.like(doc, {
    event: 'conn',
    side: 'serve',
    resumed: false,
    up: 11,
    down: 11,
    close: 1000,
    reason: '',
    channel: 1,
  });
  t.false(Number.isNaN(Date.parse(doc['time'] as string)));
  t.regex(doc['fingerprint'] as string, /^SHA256:/, 'the client key given with --key');
  t.like(JSON.parse(clientConn!), {
    event: 'conn',
    side: 'connect',
    up: 11,
    down: 11,
    close: 1000,
    channel: 1,
  });
  t.like(JSON.parse(serve.lines[0]!), {
    event: 'listening',
    side: 'serve',
    forward: `127.0.0.1:${fx.echo.port}`,
  });
  t.is(await serve.stop(), 0);
  const last = serve.lines.slice(-2).map((l) => JSON.parse(l) as Record<string, unknown>);
  // connect's channel session outlives its channels (§6b: made to last): serve drains it.
  t.like(last[0], { event: 'draining', sessions: 1 });
  t.like(last[1], { event: 'stopped' });
  await client.stop();
});

// Both ways a local connection crosses: a channel of connect's one session (refused or reset
// by an RST; the session goes on), and a session of its own (--no-channels: the session closes).
for (const [how, extra, channel] of [
  ['a channel', [], ' channel=1'],
  ['a session each (--no-channels)', ['--no-channels'], ''],
] as const) {
  test.serial(
    `a backend that refuses: the session (or channel) closes 4000 "backend unavailable" and the local connection is reset (${how})`,
    async (t) => {
      const { serve, client, port } = await pair(await refusedPort(), { connect: [...extra] });
      const error = await t.throwsAsync(exchange(port, Buffer.from('anyone?')));
      t.is((error as NodeJS.ErrnoException).code, 'ECONNRESET');
      const [line] = await serve.linesMatching(/conn /, 1);
      t.regex(line!, new RegExp(`up=0 down=0 ms=\\d+ close=4000 reason="backend unavailable"${channel}$`));
      const [clientLine] = await client.linesMatching(/conn /, 1);
      t.regex(clientLine!, new RegExp(`close=4000 reason="backend unavailable"${channel}$`));
    },
  );

  test.serial(
    `a local reset crosses the tunnel: the backend connection is reset and the session (or channel) closes 4001 (${how})`,
    async (t) => {
      let backendError: Promise<string> | undefined;
      const backend = createServer({ allowHalfOpen: true }, (socket) => {
        backendError = new Promise((resolve) => {
          socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
          socket.on('close', () => resolve('closed without error'));
        });
        socket.write('hello');
      });
      backend.listen(0, '127.0.0.1');
      await once(backend, 'listening');
      const { serve, port } = await pair((backend.address() as AddressInfo).port, { connect: [...extra] });
      const local = connect({ host: '127.0.0.1', port });
      await once(local, 'data');
      local.resetAndDestroy();
      t.is(await backendError, 'ECONNRESET');
      const [line] = await serve.linesMatching(/conn /, 1);
      t.regex(line!, new RegExp(`close=4001 reason="connection reset"${channel}$`));
      backend.close();
    },
  );
}

test.serial(
  'serve --stdio: a connection that never handshakes does not hold stdin/stdout; a session that comes while another has them is closed with 4002',
  async (t) => {
    const serve = fx.start(['serve', '--listen', '127.0.0.1:0', '--key', fx.keys.serverKey, '--stdio'], {
      stdin: 'pipe',
    });
    const out: Buffer[] = [];
    serve.child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    serve.child.stdin!.end(); // the server side sends nothing
    const port = await serve.port();
    // Anyone can open a TCP connection and send nothing: it must not take the one slot.
    const idle = connect(port, '127.0.0.1');
    idle.on('error', () => {});
    await once(idle, 'connect');
    t.teardown(() => idle.destroy());
    const start = (): ReturnType<typeof spawn> =>
      spawn(
        process.execPath,
        [TUNNEL_BIN, 'connect', `127.0.0.1:${port}`, '--server-pub', fx.keys.serverPub],
        {
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
    const first = start();
    first.stdin!.write('first\n');
    // Once the first session's bytes are on stdout, it has stdin/stdout.
    for (let i = 0; i < 200 && !Buffer.concat(out).toString().includes('first'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.is(
      Buffer.concat(out).toString(),
      'first\n',
      'the first session came through despite the idle connection',
    );
    const second = start();
    const secondErr = readAll(second.stderr as never);
    second.stdin!.end('second\n');
    t.is((await once(second, 'exit'))[0], 1);
    t.regex((await secondErr).toString(), /4002.*busy|busy.*4002/);
    const [refused] = await serve.linesMatching(/^secsess: refused /, 1);
    t.regex(refused!, /^secsess: refused peer=127\.0\.0\.1:\d+ code=ERR_SERVER_BUSY limit=stdio$/);
    first.stdin!.end();
    t.is((await once(first, 'exit'))[0], 0);
    t.is(Buffer.concat(out).toString(), 'first\n', 'nothing of the refused session reached stdout');
    t.is(await serve.stop(), 0);
  },
);

test.serial('a file through serve --stdio and a second session after it without --once', async (t) => {
  const serve = fx.start(['serve', '--listen', '127.0.0.1:0', '--key', fx.keys.serverKey, '--stdio'], {
    stdin: 'pipe',
  });
  const out: Buffer[] = [];
  serve.child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  serve.child.stdin!.end('from the server side\n');
  const port = await serve.port();
  for (const text of ['first\n', 'second\n']) {
    const child = spawn(
      process.execPath,
      [TUNNEL_BIN, 'connect', `127.0.0.1:${port}`, '--server-pub', fx.keys.serverPub],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const answer = readAll(child.stdout as never);
    child.stdin!.end(text);
    t.is((await once(child, 'exit'))[0], 0);
    // The server's stdin went to the first session; the second finds it at its end.
    t.is((await answer).toString(), text === 'first\n' ? 'from the server side\n' : '');
  }
  await serve.linesMatching(/conn /, 2);
  t.is(Buffer.concat(out).toString(), 'first\nsecond\n');
  t.is(await serve.stop(), 0);
});
