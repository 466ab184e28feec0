/**
 * `connect`'s defaults against a server older than them. A release before resumption takes
 * the ClientHello's ticket-request flag for a reserved bit and refuses the hello (plaintext
 * Alert HandshakeFailed, ERR_HANDSHAKE), and one before ChaCha20-Poly1305 refuses that suite
 * (ERR_SUITE_MISMATCH). The older server here is what such a release does on the wire: a TCP
 * front that answers a hello with any flag but bit 0 with HandshakeFailed, in front of a
 * real `serve --symmetric aes-256-gcm`.
 */
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { connectArgs, exchange, serveArgs, tunnelFixture } from './helpers/tunnel.js';
import { runCli } from './helpers/cli.js';

const fx = tunnelFixture('compat');
/** Whoever runs the tests may force node:crypto for the whole run (then the default is GCM). */
const forced = process.env['SECSESS_CRYPTO'] === 'node';

/** A new ticket-key file, made by `secsess-keygen ticket-key`. */
async function ticketFile(t: ExecutionContext): Promise<string> {
  const path = join(fx.dir, 'tickets.keys');
  const made = await runCli(['ticket-key', '-f', path]);
  t.is(made.code, 0, made.stderr);
  return path;
}

const KEY_REQUEST = 0x01;
const CLIENT_HELLO = 0x03;
/** Plaintext Alert HandshakeFailed (0x0005): frame type 0x15, length 2. */
const HANDSHAKE_FAILED = Buffer.from([0x15, 0, 0, 2, 0, 5]);
/** The ClientHello's flags byte, from the frame's start: header 4, preamble 5, suite 3. */
const FLAGS_AT = 4 + 5 + 3;

/** A front that refuses ticket requests as a pre-resumption server does; counts its refusals. */
async function olderServer(
  t: ExecutionContext,
  upstreamPort: number,
  /** Refuse only this many ticket requests (a modern server's rare refusal); default all. */
  refuseAtMost = Infinity,
): Promise<{ port: number; refusals(): number }> {
  let refusals = 0;
  const server: NetServer = createServer((socket: Socket) => {
    socket.on('error', () => {});
    let held = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      held = Buffer.concat([held, chunk]);
      // A KeyRequest passes; the hello after it decides (a ResumeHello, which only a server
      // that issued a ticket can get, is passed on).
      let at = 0;
      while (held.length - at >= 4) {
        const length = held.readUIntBE(at + 1, 3);
        if (held.length - at < 4 + length) return;
        if (held[at] !== KEY_REQUEST) {
          socket.off('data', onData);
          const asks = held[at] === CLIENT_HELLO && (held[at + FLAGS_AT]! & ~1) !== 0;
          if (asks && refusals < refuseAtMost) {
            refusals++;
            socket.end(HANDSHAKE_FAILED);
            return;
          }
          const upstream = netConnect(upstreamPort, '127.0.0.1');
          upstream.on('error', () => socket.destroy());
          socket.on('close', () => upstream.destroy());
          upstream.write(held);
          socket.pipe(upstream).pipe(socket);
          return;
        }
        at += 4 + length;
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, refusals: () => refusals };
}

test.serial(
  'connect --listen against a server older than resumption and ChaCha20-Poly1305: connections opened together all get through, asking for tickets no more, one line for each fallback',
  async (t) => {
    const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-gcm']));
    const older = await olderServer(t, await serve.port());
    // Without @secsess/native (SECSESS_CRYPTO=sodium), the default is chacha20-poly1305.
    const client = fx.start(connectArgs(older.port, fx.keys.serverPub, ['--no-channels']), {
      env: { SECSESS_CRYPTO: 'sodium' },
    });
    const port = await client.port();
    // Opened at once: each asks for a ticket before the first refusal is back.
    const data = [0, 1, 2].map((i) => Buffer.alloc(2000 + i, 0x41 + i));
    const replies = await Promise.all(data.map((d) => exchange(port, d)));
    t.true(
      replies.every((r, i) => r.equals(data[i]!)),
      'every connection echoed',
    );
    await client.linesMatching(/^secsess: conn /, data.length);
    t.true(older.refusals() >= 1 && older.refusals() <= data.length);
    t.is(client.lines.filter((l) => /refused the resumption ticket request/.test(l)).length, 1);
    t.is(client.lines.filter((l) => /refused chacha20-poly1305/.test(l)).length, forced ? 0 : 1);
    t.true(
      client.lines.filter((l) => l.startsWith('secsess: conn ')).every((l) => l.includes(' close=1000')),
    );

    // From now on the hello asks for no ticket: nothing more is refused.
    const refusedBefore = older.refusals();
    const later = Buffer.from('later');
    t.true((await exchange(port, later)).equals(later));
    await client.linesMatching(/^secsess: conn /, data.length + 1);
    t.is(older.refusals(), refusedBefore);
    t.is(await client.stop(), 0);
    t.is(await serve.stop(), 0);
  },
);

test.serial(
  'connect --listen with channels (the default) against a server older than them: after two refusals one line says so, then a session each, with the ticket and cipher fallbacks',
  async (t) => {
    const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-gcm']));
    const older = await olderServer(t, await serve.port());
    const client = fx.start(connectArgs(older.port, fx.keys.serverPub), {
      env: { SECSESS_CRYPTO: 'sodium' },
    });
    const port = await client.port();
    // Opened at once: all wait for the one channel session, refused (flag bit 2 is reserved
    // there), then each makes a session of its own.
    const data = [0, 1, 2].map((i) => Buffer.alloc(3000 + i, 0x61 + i));
    const replies = await Promise.all(data.map((d) => exchange(port, d)));
    t.true(
      replies.every((r, i) => r.equals(data[i]!)),
      'every connection echoed',
    );
    const conns = await client.linesMatching(/^secsess: conn /, data.length);
    // One refusal is not enough to give channels up (it may be forged, or a modern server's).
    t.is(client.lines.filter((l) => /the server refused channels/.test(l)).length, 0);
    t.is(client.lines.filter((l) => /refused the resumption ticket request/.test(l)).length, 1);
    t.is(client.lines.filter((l) => /refused chacha20-poly1305/.test(l)).length, forced ? 0 : 1);
    t.true(
      conns.every((l) => l.includes(' close=1000') && !l.includes(' channel=')),
      conns.join('\n'),
    );
    // The channel hello once, then at most one ticket request per connection.
    t.true(older.refusals() >= 2 && older.refusals() <= 1 + data.length, `${older.refusals()} refusals`);

    // The next connection asks for channels again: the second refusal in a row gives them up
    // for the run (one line), and it gets a session of its own.
    const before = older.refusals();
    const second = Buffer.from('second');
    t.true((await exchange(port, second)).equals(second));
    await client.linesMatching(/^secsess: conn /, data.length + 1);
    t.is(older.refusals(), before + 1, 'the channel hello, refused again; tickets are asked no more');
    t.is(client.lines.filter((l) => /the server refused channels 2 times/.test(l)).length, 1);

    // For the rest of the run: no channel hello, no ticket request, nothing refused.
    const refusedBefore = older.refusals();
    const later = Buffer.from('later');
    t.true((await exchange(port, later)).equals(later));
    const [last] = (await client.linesMatching(/^secsess: conn /, data.length + 2)).slice(-1);
    t.false(last!.includes(' channel='), last);
    t.is(older.refusals(), refusedBefore);
    t.is(client.lines.filter((l) => /the server refused channels/.test(l)).length, 1);
    t.is(await client.stop(), 0);
    t.is(await serve.stop(), 0);
  },
);

test.serial('connect --no-resume never asks an older server for a ticket: nothing is refused', async (t) => {
  const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-gcm']));
  const older = await olderServer(t, await serve.port());
  const client = fx.start(connectArgs(older.port, fx.keys.serverPub, ['--no-resume', '--no-channels']));
  const port = await client.port();
  const data = Buffer.from('no tickets asked');
  t.true((await exchange(port, data)).equals(data));
  await client.linesMatching(/^secsess: conn /, 1);
  t.is(older.refusals(), 0);
  t.false(client.lines.some((l) => /ticket request/.test(l)));
  t.is(await client.stop(), 0);
  t.is(await serve.stop(), 0);
});

test.serial(
  'a modern server that refuses one ticket request: the retry gets through, and later sessions still ask and resume',
  async (t) => {
    const serve = fx.start(
      serveArgs(fx.keys.serverKey, fx.echo.port, ['--ticket-keys', await ticketFile(t)]),
    );
    const front = await olderServer(t, await serve.port(), 1);
    const client = fx.start(connectArgs(front.port, fx.keys.serverPub, ['--no-channels']));
    const port = await client.port();
    for (let i = 1; i <= 3; i++) {
      const data = Buffer.from(`round ${i}`);
      t.true((await exchange(port, data)).equals(data));
      await client.linesMatching(/^secsess: conn /, i);
    }
    t.is(front.refusals(), 1);
    t.false(client.lines.some((l) => /full handshakes from now on/.test(l)));
    t.regex(client.lines.filter((l) => l.startsWith('secsess: conn ')).at(-1)!, / resumed=yes /);
    t.is(await client.stop(), 0);
    t.is(await serve.stop(), 0);
  },
);
