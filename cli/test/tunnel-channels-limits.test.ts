/**
 * Channels (PROTOCOL.md §6b) at their limits, through the real `secsess` processes: serve's
 * --max-conns counts channels and refuses the one past it with an RST (the session goes on);
 * a backend down refuses each channel (4000); a broken channel frame closes only its session
 * (1002); a server without channels gets a session per connection (said once), as does
 * `connect --no-channels`; SIGTERM drains a channel session on either side.
 */
import { Buffer } from 'node:buffer';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { Client } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import {
  ANSWER_MS,
  channelOf,
  Conn,
  echoBackend,
  lineOf,
  peerPort,
  channelFrame,
} from './helpers/channel-tunnel.js';
import { assertSecsessBuilt, connLines, started, tunnelFiles } from './helpers/real-test.js';
import { refusedPort } from './helpers/refused-port.js';
import { startConnect, startServe } from './helpers/secsess-bin.js';
import type { LogEvent, SecsessProc, TunnelKeys } from './helpers/secsess-bin.js';
import { within } from './helpers/tcp-client.js';

test.before(() => assertSecsessBuilt());

/** serve → `target` with `serveExtra`, and a connect --listen in front of it with `connectExtra`. */
async function tunnel(
  t: ExecutionContext,
  target: string,
  serveExtra: string[] = [],
  connectExtra: string[] = [],
): Promise<{ keys: TunnelKeys; serve: SecsessProc; connect: SecsessProc }> {
  const { keys } = await tunnelFiles(t);
  const serve = await started(t, startServe(keys, target, serveExtra));
  const connect = await started(
    t,
    startConnect(keys, serve.address, ['--server-pub', keys.serverPub, ...connectExtra]),
  );
  return { keys, serve, connect };
}

/** A connection through `connect` that has echoed `text` (so its channel is open at serve). */
async function echoing(connect: SecsessProc, text: string): Promise<Conn> {
  const conn = await Conn.open(connect.port);
  if (String(await conn.exchange(text, text.length)) !== text) throw new Error(`no echo of ${text}`);
  return conn;
}

/** A connection through `connect` that is reset (ECONNRESET) without a byte of answer. */
async function resetWithoutData(t: ExecutionContext, connect: SecsessProc): Promise<void> {
  let conn: Conn;
  try {
    conn = await Conn.open(connect.port);
  } catch (err) {
    // On a loaded machine the reset can come before this side saw its connect complete.
    t.is((err as NodeJS.ErrnoException).code, 'ECONNRESET');
    return;
  }
  conn.socket.write('anyone?');
  const error = await t.throwsAsync(conn.rest());
  t.is((error as NodeJS.ErrnoException).code, 'ECONNRESET');
  t.is(conn.buffered, 0, 'nothing came');
}

const events = (proc: SecsessProc, event: string): LogEvent[] =>
  proc.events().filter((e) => e.event === event);

test.serial(
  'serve --max-conns 2 counts channels: a third at once is refused with an RST, the two go on, a freed slot serves',
  async (t) => {
    const echo = await echoBackend(t);
    const { serve, connect } = await tunnel(t, `127.0.0.1:${echo}`, ['--max-conns', '2']);
    const first = await echoing(connect, 'one');
    const second = await echoing(connect, 'two');
    await resetWithoutData(t, connect);
    const refused = await serve.waitForEvent((e) => e.event === 'refused', 'the refused line');
    t.like(refused, { code: 'ERR_SERVER_BUSY', limit: 'max-conns' });
    // connect's line for the refused channel: it never carried a byte back.
    const [refusedLine] = await connLines(connect, 1);
    t.like(refusedLine, { channel: 3, down: 0 });
    t.not(refusedLine!['close'], 1000);

    t.is(String(await first.exchange('still one', 9)), 'still one', 'the first goes on');
    t.is(String(await second.exchange('still two', 9)), 'still two', 'the second goes on');
    first.socket.end();
    t.is((await first.rest()).length, 0);
    await connLines(serve, 1); // channel 1 is over at serve: its slot is free
    const fourth = await echoing(connect, 'four');
    fourth.socket.end();
    second.socket.end();
    await Promise.all([fourth.rest(), second.rest()]);

    const served = await connLines(serve, 3);
    t.deepEqual(served.map(channelOf).sort(), [1, 2, 4]);
    t.deepEqual(
      served.map((l) => l['close']),
      [1000, 1000, 1000],
    );
    t.is(new Set(served.map(peerPort)).size, 1, 'one session throughout');
    t.is(events(serve, 'refused').length, 1);
  },
);

test.serial(
  'a backend that is down: each channel is refused (4000 "backend unavailable") and the session goes on',
  async (t) => {
    const { serve, connect } = await tunnel(t, `127.0.0.1:${await refusedPort()}`);
    for (let i = 0; i < 2; i++) await resetWithoutData(t, connect);
    const served = await connLines(serve, 2);
    const connected = await connLines(connect, 2);
    for (const channel of [1, 2]) {
      t.like(lineOf(served, channel), { up: 0, down: 0, close: 4000, reason: 'backend unavailable' });
      // connect read the bytes its client wrote before the RST (up), and passed none back.
      t.like(lineOf(connected, channel), { down: 0, close: 4000, reason: 'backend unavailable' });
    }
    t.is(new Set(served.map(peerPort)).size, 1, 'both channels on one session');
    t.is(serve.child.exitCode, null);
  },
);

const frame = channelFrame;
const OPEN = 0x01;
const DATA = 0x02;

/** The body of the first DATA frame on `channel` (frames of other types are passed over). */
async function dataOn(session: Session, channel: number): Promise<Buffer> {
  for (let i = 0; i < 100; i++) {
    const message = await within(session.read(), ANSWER_MS, 'a message from serve');
    if (message === null) throw new Error(`the session ended (${session.closeCode})`);
    for (let at = 0; at < message.length;) {
      const length = message.readUInt32BE(at + 5);
      if (message[at] === DATA && message.readUInt32BE(at + 1) === channel) {
        return message.subarray(at + 9, at + 9 + length);
      }
      at += 9 + length;
    }
  }
  throw new Error(`no DATA on channel ${channel}`);
}

test.serial(
  'a broken channel frame: serve closes that session 1002 "channel protocol error"; the tunnel beside it goes on',
  async (t) => {
    const echo = await echoBackend(t);
    const { keys, serve, connect } = await tunnel(t, `127.0.0.1:${echo}`);
    const held = await echoing(connect, 'before');
    const broken: [string, Buffer][] = [
      ['an unknown type (0x09)', frame(0x09, 1)],
      ['DATA for a channel never opened', frame(DATA, 2, Buffer.from('x'))],
    ];
    for (const [what, bytes] of broken) {
      const session = await Client.create(keys.serverPub, {}, { channels: true }).connect(serve.address);
      session.on('error', () => {});
      t.true(session.channels);
      const localPort = session.localPort; // gone with the socket
      // A channel joined to the backend first: its echo comes back.
      await session.write(Buffer.concat([frame(OPEN, 1), frame(DATA, 1, Buffer.from('ping'))]));
      t.is(String(await dataOn(session, 1)), 'ping', what);
      await session.write(bytes);
      await within(session.closed, ANSWER_MS, `the close after ${what}`);
      t.is(session.closeCode, 1002, what);
      t.is(session.closeReason, 'channel protocol error', what);
      // Its open channel ended with it, and says so.
      const line = await serve.waitForEvent(
        (e) => e.event === 'conn' && peerPort(e) === localPort,
        `the conn line of the session broken by ${what}`,
      );
      t.like(line, { channel: 1, close: 1002, reason: 'channel protocol error' }, what);
      t.is(String(await held.exchange(what, what.length)), what, 'the other session goes on');
    }
    const fresh = await echoing(connect, 'a new channel');
    t.is(serve.child.exitCode, null, 'serve is still running');
    for (const conn of [held, fresh]) conn.socket.end();
    await Promise.all([held.rest(), fresh.rest()]);
    const tunnelLines = (await connLines(serve, 4)).filter((l) => l['close'] !== 1002);
    t.deepEqual(tunnelLines.map(channelOf).sort(), [1, 2]);
    t.true(tunnelLines.every((l) => l['close'] === 1000));
  },
);

test.serial(
  'serve --no-channels: after two refusals in a row connect says once that channels were refused, then a session each, all working',
  async (t) => {
    const echo = await echoBackend(t);
    const { serve, connect } = await tunnel(t, `127.0.0.1:${echo}`, ['--no-channels']);
    // Three at once (all wait for the one channel session, refused: the first refusal), then
    // two after: the first asks again (the second refusal: channels are given up, one line),
    // the last asks no more.
    const together = await Promise.all(['a', 'bb', 'ccc'].map((text) => echoing(connect, text)));
    const after = [await echoing(connect, 'dddd'), await echoing(connect, 'eeeee')];
    for (const conn of [...together, ...after]) conn.socket.end();
    await Promise.all([...together, ...after].map((c) => c.rest()));
    const served = await connLines(serve, 5);
    const connected = await connLines(connect, 5);
    t.is(
      connect.output().match(/the server refused channels/g)?.length,
      1,
      'said once, on stderr:\n' + connect.output(),
    );
    t.deepEqual(
      events(serve, 'refused').map((e) => e['code']),
      ['ERR_HANDSHAKE', 'ERR_HANDSHAKE'],
      'two channel hellos were refused',
    );
    for (const lines of [served, connected]) {
      t.deepEqual(lines.map(channelOf), [undefined, undefined, undefined, undefined, undefined]);
      t.true(lines.every((l) => l['close'] === 1000));
    }
    t.is(new Set(served.map(peerPort)).size, 5, 'a session each');
  },
);

test.serial(
  'connect --no-channels against a serve with channels: a session each, no channel field',
  async (t) => {
    const echo = await echoBackend(t);
    const { serve, connect } = await tunnel(t, `127.0.0.1:${echo}`, [], ['--no-channels']);
    const conns = await Promise.all(['x', 'yy', 'zzz'].map((text) => echoing(connect, text)));
    for (const conn of conns) conn.socket.end();
    await Promise.all(conns.map((c) => c.rest()));
    const served = await connLines(serve, 3);
    const connected = await connLines(connect, 3);
    for (const lines of [served, connected]) {
      t.false(
        lines.some((l) => 'channel' in l),
        JSON.stringify(lines),
      );
      t.true(lines.every((l) => l['close'] === 1000));
    }
    t.is(new Set(served.map(peerPort)).size, 3, 'a session each');
    t.false(connect.output().includes('refused channels'));
  },
);

test.serial(
  'SIGTERM on serve: an open channel goes on until its client ends, a new one gets RST "going away", exit 0',
  async (t) => {
    const echo = await echoBackend(t);
    const { serve, connect } = await tunnel(t, `127.0.0.1:${echo}`, ['--drain-timeout', '600']);
    const open = await echoing(connect, 'one');
    serve.child.kill('SIGTERM');
    const draining = await serve.waitForEvent((e) => e.event === 'draining', 'the draining line');
    t.is(draining['sessions'], 1);
    t.is(String(await open.exchange('two', 3)), 'two', 'the open channel goes on');

    await resetWithoutData(t, connect);
    t.like(await serve.waitForEvent((e) => e.event === 'refused', 'the refused line'), {
      code: 'ERR_SERVER_BUSY',
      limit: 'draining',
    });
    const [late] = await connLines(connect, 1);
    t.like(late, { channel: 2, close: 1001, reason: 'going away' });
    t.is(String(await open.exchange('three', 5)), 'three', 'and goes on after the refusal');

    open.socket.end();
    t.is((await open.rest()).length, 0);
    t.deepEqual(await within(serve.exited, 60_000, 'serve to exit'), { code: 0, signal: null });
    t.like(lineOf(await connLines(serve, 1), 1), { close: 1000, up: 11, down: 11 });
    t.is(serve.events().at(-1)?.event, 'stopped');
    // The session ended with the drain: the next connection finds no server.
    await resetWithoutData(t, connect);
    t.like(await connect.waitForEvent((e) => e.event === 'refused', "connect's refused line"), {
      code: 'ERR_TRANSPORT',
    });
  },
);

test.serial(
  'SIGTERM on connect: its open channel goes on, new connections are refused, it closes the session after the last, exit 0',
  async (t) => {
    const echo = await echoBackend(t);
    const { serve, connect } = await tunnel(t, `127.0.0.1:${echo}`, [], ['--drain-timeout', '600']);
    const open = await echoing(connect, 'one');
    connect.child.kill('SIGTERM');
    await connect.waitForEvent((e) => e.event === 'draining', 'the draining line');
    t.is(String(await open.exchange('two', 3)), 'two', 'the open channel goes on');
    await t.throwsAsync(Conn.open(connect.port), { code: 'ECONNREFUSED' });
    open.socket.end();
    t.is((await open.rest()).length, 0);
    t.deepEqual(await within(connect.exited, 60_000, 'connect to exit'), { code: 0, signal: null });
    t.like(lineOf(await connLines(connect, 1), 1), { close: 1000, up: 6, down: 6 });
    t.like(lineOf(await connLines(serve, 1), 1), { close: 1000, up: 6, down: 6 });
    t.is(serve.child.exitCode, null, 'serve goes on');
  },
);
