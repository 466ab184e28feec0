/**
 * `connect --listen` → `serve --forward` carrying every local connection as a channel of one
 * session (PROTOCOL.md §6b), with real programs over loopback: 16 redis clients at once,
 * curl downloading while another channel is used, a half-close whose answer comes after the
 * client's FIN, and a reader that stops while the others go on. The log lines say which
 * channel each connection was, and serve's say it was one session (one peer address).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, createServer as createHttpServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { assertSecsessBuilt, connLines, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { programPath, runProgram } from './helpers/programs.js';
import { startConnect, startServe } from './helpers/secsess-bin.js';
import type { LogEvent, SecsessProc } from './helpers/secsess-bin.js';
import { address, startRedis } from './helpers/services.js';
import { within } from './helpers/tcp-client.js';
import { curlHashed } from './helpers/curl.js';
import { readAll } from './helpers/tunnel.js';
import { ANSWER_MS, backend, channelOf, Conn, lineOf, peerPort, sha256 } from './helpers/channel-tunnel.js';

test.before(() => assertSecsessBuilt());

/** serve → `target` and a connect --listen in front of it (channels: both defaults). */
async function tunnel(
  t: ExecutionContext,
  target: string,
): Promise<{ serve: SecsessProc; connect: SecsessProc }> {
  const { keys } = await tunnelFiles(t);
  const serve = await started(t, startServe(keys, target));
  const connect = await started(t, startConnect(keys, serve.address));
  return { serve, connect };
}

/** The conn lines of both sides agree on each channel (its number, its bytes), all on one session. */
function sameChannels(t: ExecutionContext, served: LogEvent[], connected: LogEvent[]): void {
  const numbers = (lines: LogEvent[]) => lines.map(channelOf).sort((a, b) => a! - b!);
  t.deepEqual(numbers(served), numbers(connected));
  t.is(new Set(numbers(served)).size, served.length, 'a channel number each');
  t.true(
    served.every((l) => Number.isInteger(channelOf(l)) && channelOf(l)! >= 1),
    'numbered from 1',
  );
  t.is(new Set(served.map(peerPort)).size, 1, 'one session: serve saw one client address on every line');
  for (const line of served) {
    const other = lineOf(connected, channelOf(line)!);
    t.like(other, { up: line['up'], down: line['down'] }, `channel ${channelOf(line)}: the same bytes`);
  }
}

/** A redis command in RESP: an array of bulk strings. */
function command(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const real = realTest(['redis-server', 'redis-cli'], true);

real('redis: 16 clients at once are 16 channels of one session, every answer right', async (t) => {
  const redis = await started(t, startRedis());
  const { serve, connect } = await tunnel(t, address(redis));
  const clients = 16;
  const rounds = 8;
  const conns = await Promise.all(Array.from({ length: clients }, () => Conn.open(connect.port)));
  t.teardown(() => conns.forEach((c) => c.socket.destroy()));
  // All open together: each answers a PING before any goes on.
  const pongs = await Promise.all(conns.map((c) => c.exchange(command('PING'), 7)));
  t.deepEqual(pongs.map(String), Array<string>(clients).fill('+PONG\r\n'));

  const wrong: string[] = [];
  await Promise.all(
    conns.map(async (conn, i) => {
      for (let r = 0; r < rounds; r++) {
        // Client 0's values are more than a channel's credit (256 KiB), both ways.
        const value = randomBytes(i === 0 ? 600_000 : 100 + 37 * i + r);
        const key = `channel:${i}:${r}`;
        const expected = Buffer.concat([
          Buffer.from(`+OK\r\n$${value.length}\r\n`),
          value,
          Buffer.from('\r\n'),
        ]);
        const answer = await conn.exchange(
          Buffer.concat([command('SET', key, value), command('GET', key)]),
          expected.length,
        );
        if (!answer.equals(expected)) wrong.push(`${key}: ${answer.subarray(0, 40).toString()}`);
      }
    }),
  );
  t.deepEqual(wrong, []);
  const dbsize = await runProgram(programPath('redis-cli'), ['-p', String(redis.port), 'DBSIZE']);
  t.is(dbsize.stdout, `${clients * rounds}\n`, 'every SET reached redis-server');

  // Each client ends; redis closes its side: a normal close on every channel.
  await Promise.all(conns.map((c) => (c.socket.end(), c.rest())));
  const served = await connLines(serve, clients);
  const connected = await connLines(connect, clients);
  t.is(served.length, clients);
  t.is(connected.length, clients);
  sameChannels(t, served, connected);
  t.is(new Set(connected.map(peerPort)).size, clients, 'connect saw 16 local clients');
  t.deepEqual(
    [...served, ...connected].filter((l) => l['close'] !== 1000),
    [],
  );
});

/** curl -sS --fail URL, stdout hashed: [status, sha256, bytes, stderr]. */
const curl = (t: ExecutionContext, url: string) => curlHashed(t, url, { seconds: 60, extra: ['--http1.1'] });

realTest(['curl'], true)(
  'curl downloads 16 MiB through a channel intact while another channel carries HTTP requests',
  async (t) => {
    const body = randomBytes(16 * 1024 * 1024);
    let halfSent!: () => void;
    const half = new Promise<void>((resolve) => (halfSent = resolve));
    let sideUsed!: () => void;
    const used = new Promise<void>((resolve) => (sideUsed = resolve));
    const http = createHttpServer((req, res) => {
      if (req.url !== '/big') return void res.end(`small ${req.url}`);
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
      // Half the body, then the rest once the other channel has been used meanwhile.
      res.write(body.subarray(0, body.length / 2));
      halfSent();
      void used.then(() => res.end(body.subarray(body.length / 2)));
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    t.teardown(() => (http.closeAllConnections(), http.close()));
    const { serve, connect } = await tunnel(t, `127.0.0.1:${(http.address() as AddressInfo).port}`);

    // One keep-alive connection (one channel) for the small requests.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());
    const get = (path: string): Promise<string> =>
      within(
        new Promise((resolve, reject) => {
          httpGet({ host: '127.0.0.1', port: connect.port, path, agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve(Buffer.concat(chunks).toString()));
            res.on('error', reject);
          }).on('error', reject);
        }),
        ANSWER_MS,
        `GET ${path}`,
      );
    t.is(await get('/first'), 'small /first');
    const download = curl(t, `http://127.0.0.1:${connect.port}/big`);
    await within(half, ANSWER_MS, 'the first half of the body sent');
    for (const path of ['/a', '/b', '/c']) t.is(await get(path), `small ${path}`, 'during the download');
    sideUsed();
    const [status, got, bytes, stderr] = await download;
    t.is(status, 0, stderr);
    t.is(bytes, body.length);
    t.is(got, sha256(body));
    agent.destroy();

    const served = await connLines(serve, 2);
    const connected = await connLines(connect, 2);
    sameChannels(t, served, connected);
    // The keep-alive channel opened first: channel 1; curl's: channel 2.
    t.like(lineOf(served, 2), { close: 1000 });
    t.true(Number(lineOf(served, 2)['down']) > body.length, "down counts curl's headers and body");
    t.true(Number(lineOf(served, 1)['down']) > 0);
  },
);

test.serial(
  'half-close: the request, then the FIN; the backend answers after it, the answer comes whole, then the end',
  async (t) => {
    // The backend answers once it has read to the end: the request's SHA-256, then `more`.
    const more = randomBytes(2 * 1024 * 1024);
    let ends = 0;
    const port = await backend(t, (socket) => {
      const hash = createHash('sha256');
      socket.on('data', (chunk: Buffer) => hash.update(chunk));
      socket.on('end', () => {
        ends++;
        socket.end(Buffer.concat([Buffer.from(hash.digest('hex')), more]));
      });
    });
    const { serve, connect } = await tunnel(t, `127.0.0.1:${port}`);
    // A request under a channel's credit and one over it (then WINDOWs flow after the FIN).
    const requests = [Buffer.from('hello'), randomBytes(1024 * 1024)];
    for (const request of requests) {
      const conn = await Conn.open(connect.port);
      conn.socket.end(request);
      const answer = await conn.rest();
      t.is(answer.length, 64 + more.length);
      t.is(answer.subarray(0, 64).toString(), sha256(request), 'the backend read the whole request');
      t.true(answer.subarray(64).equals(more), 'the whole answer, after the FIN');
      t.false(await conn.closed, 'closed without an error');
    }
    t.is(ends, requests.length);
    const served = await connLines(serve, 2);
    const connected = await connLines(connect, 2);
    sameChannels(t, served, connected);
    for (const [i, request] of requests.entries()) {
      for (const lines of [served, connected]) {
        t.like(lineOf(lines, i + 1), { up: request.length, down: 64 + more.length, close: 1000, reason: '' });
      }
    }
  },
);

test.serial(
  'a reader that stops holds back only its own channel: another echoes 4 MiB meanwhile; resumed, it gets all 20 MB',
  async (t) => {
    const big = randomBytes(20 * 1000 * 1000);
    const push = { written: 0, blocked: false, done: false };
    // The first byte chooses: P, the backend pushes `big` (as fast as it is taken); else echo.
    const port = await backend(t, (socket) => {
      socket.once('data', (first: Buffer) => {
        if (first[0] !== 0x50) {
          socket.write(first);
          socket.pipe(socket);
          return;
        }
        const more = (): void => {
          push.blocked = false;
          while (push.written < big.length) {
            const chunk = big.subarray(push.written, push.written + 65_536);
            push.written += chunk.length;
            if (!socket.write(chunk)) {
              push.blocked = true;
              socket.once('drain', more);
              return;
            }
          }
          push.done = true;
          socket.end();
        };
        more();
      });
    });
    const { serve, connect } = await tunnel(t, `127.0.0.1:${port}`);
    // No 'data' listener: the socket reads a little into its buffer, then nothing.
    const slow = netConnect({ host: '127.0.0.1', port: connect.port });
    t.teardown(() => slow.destroy());
    slow.on('error', () => {});
    slow.write('P');
    // Held back: the backend's writes stop being taken (its socket and the channel's credit full).
    for (let i = 0; !(push.blocked && !push.done); i++) {
      if (push.done || i === 3000) {
        return void t.fail(`the push was never held back: ${push.written} bytes written, done: ${push.done}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const heldAt = push.written;

    const echo = await Conn.open(connect.port);
    t.deepEqual(await echo.exchange('E', 1), Buffer.from('E'));
    const piece = 128 * 1024;
    for (let i = 0; i < 32; i++) {
      const data = randomBytes(piece);
      t.true((await echo.exchange(data, piece)).equals(data), `round ${i}`);
    }
    t.false(push.done, 'the slow channel was held back all along');
    t.true(push.written < big.length);
    echo.socket.end();
    t.is((await echo.rest()).length, 0);

    // Read again: all of it comes, intact, and the channel ends normally.
    const all = await within(readAll(slow), 120_000, 'the slow reader');
    t.is(all.length, big.length);
    t.is(sha256(all), sha256(big));
    t.true(heldAt < big.length);
    const served = await connLines(serve, 2);
    const connected = await connLines(connect, 2);
    sameChannels(t, served, connected);
    t.like(lineOf(served, 1), { up: 1, down: big.length, close: 1000 });
    t.like(lineOf(served, 2), { up: 1 + 32 * piece, down: 1 + 32 * piece, close: 1000 });
    t.log(`the push was held back at ${heldAt} of ${big.length} bytes`);
  },
);
