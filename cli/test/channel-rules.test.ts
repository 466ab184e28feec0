/**
 * The receiver rules of PROTOCOL.md §6b that need the channel table (numbers, credit, FIN
 * order, 1024 open), as the tunnel's mux applies them: a real SDK server whose sessions
 * serve channels through `ChannelMux` to a real TCP echo backend, and a raw SDK client with
 * `channels: true` writing the frames by hand. A broken frame closes that session with 1002
 * (every channel of it reset); frames for a channel already closed are ignored; the server
 * and its other sessions go on.
 */
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PrivateKey, PublicKey } from '@secsess/keys';
import { Client, Server, Symmetric } from '@secsess/sdk';
import type { Session } from '@secsess/sdk';
import { openBackend } from '../src/tunnel/backend.js';
import { ChannelMux } from '../src/tunnel/channels/mux.js';
import type { ChannelOutcome } from '../src/tunnel/channels/channel.js';
import {
  DATA,
  FIN,
  INITIAL_CREDIT,
  MAX_OPEN_CHANNELS,
  OPEN,
  RST,
  WINDOW,
} from '../src/tunnel/channels/frames.js';
import { MAX_MESSAGE_SIZE } from '../src/tunnel/options.js';
import { echoServer } from './helpers/tunnel.js';
import { channelFrame } from './helpers/channel-tunnel.js';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`../../sdk/test/fixtures/${name}`, import.meta.url)), 'utf8');
const serverKey = PrivateKey.fromString(fixture('server-2048.key'));
const serverPub = PublicKey.fromString(fixture('server-2048.pub'));
const SUITE = { symmetric: Symmetric.AES256GCM };

let server: Server;
let echo: Awaited<ReturnType<typeof echoServer>>;
/** Every channel outcome the server logged, by session. */
const outcomes = new Map<Session, ChannelOutcome[]>();

test.before(async () => {
  echo = await echoServer();
  server = Server.create('127.0.0.1:0', serverKey, [SUITE], { workers: 0, channels: true });
  server.on('handshakeError', () => {});
  server.on('session', (session) => {
    const list: ChannelOutcome[] = [];
    outcomes.set(session, list);
    new ChannelMux(session, MAX_MESSAGE_SIZE, {
      admit: () => true,
      connect: () => openBackend({ host: '127.0.0.1', port: echo.port }, true),
      ended: (outcome) => list.push(outcome),
      refused: () => {},
    });
  });
  await server.start();
});

test.after.always(async () => {
  await server?.stop({ drain: 0 });
  echo?.server.close();
});

const frame = channelFrame;
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

async function channelSession(): Promise<Session> {
  const session = await Client.create(serverPub, SUITE, { channels: true }).connect(
    `127.0.0.1:${server.address!.port}`,
  );
  session.on('error', () => {});
  return session;
}

/** Reads frames until one of `type` on `channel` arrives (a bounded number of messages). */
async function until(session: Session, type: number, channel: number): Promise<Buffer> {
  for (let i = 0; i < 1000; i++) {
    const message = await session.read();
    if (message === null) throw new Error(`session ended (${session.closeCode}) before frame ${type}`);
    for (let at = 0; at < message.length;) {
      const len = message.readUInt32BE(at + 5);
      if (message[at] === type && message.readUInt32BE(at + 1) === channel) {
        return message.subarray(at + 9, at + 9 + len);
      }
      at += 9 + len;
    }
  }
  throw new Error('too many messages');
}

/** Sends `frames`, then expects the server to close the session with 1002. */
async function refused(t: ExecutionContext, session: Session, ...frames: Buffer[]): Promise<void> {
  await session.write(Buffer.concat(frames));
  await session.closed;
  t.is(session.closeCode, 1002);
  t.is(session.closeReason, 'channel protocol error');
}

test('a session carries channels: an echo comes back on its channel, both ends FIN', async (t) => {
  const session = await channelSession();
  t.true(session.channels);
  await session.write(Buffer.concat([frame(OPEN, 1), frame(DATA, 1, Buffer.from('hello')), frame(FIN, 1)]));
  t.deepEqual(await until(session, DATA, 1), Buffer.from('hello'));
  await until(session, FIN, 1);
  // The channel closed on both sides: frames for it now are ignored, not refused.
  await session.write(Buffer.concat([frame(WINDOW, 1, u32(10)), frame(RST, 1, Buffer.from([0, 2]))]));
  await session.write(Buffer.concat([frame(OPEN, 2), frame(DATA, 2, Buffer.from('again')), frame(FIN, 2)]));
  t.deepEqual(await until(session, DATA, 2), Buffer.from('again'));
  await session.close();
  t.is(session.closeCode, 1000);
});

test('rule 2: an OPEN out of order, or with a number already used, closes the session with 1002', async (t) => {
  await refused(t, await channelSession(), frame(OPEN, 2));
  await refused(t, await channelSession(), frame(OPEN, 1), frame(OPEN, 1));
});

test('rule 3: a frame for a channel never opened closes the session with 1002', async (t) => {
  await refused(t, await channelSession(), frame(OPEN, 1), frame(DATA, 2, Buffer.from('x')));
  await refused(t, await channelSession(), frame(WINDOW, 5, u32(1)));
});

test('rule 4: DATA after FIN, and DATA beyond the credit, close the session with 1002', async (t) => {
  await refused(
    t,
    await channelSession(),
    frame(OPEN, 1),
    frame(FIN, 1),
    frame(DATA, 1, Buffer.from('late')),
  );
  // The whole credit is allowed, one byte more is not — in one message, so that the server
  // has written nothing to its backend yet and so given no credit back (WINDOW).
  const within = await channelSession();
  const full = Buffer.alloc(INITIAL_CREDIT, 0x61);
  await within.write(Buffer.concat([frame(OPEN, 1), frame(DATA, 1, full), frame(FIN, 1)]));
  // The echo of it coming back means the server took the whole message.
  t.true((await until(within, DATA, 1)).length > 0);
  t.is(within.state, 'open');
  await within.close();
  await refused(
    t,
    await channelSession(),
    frame(OPEN, 1),
    frame(DATA, 1, full.subarray(1)),
    frame(DATA, 1, Buffer.from('!!')),
  );
});

test('rule 5: a second FIN closes the session with 1002', async (t) => {
  await refused(t, await channelSession(), frame(OPEN, 1), frame(FIN, 1), frame(FIN, 1));
});

test('rule 6: credit above 2^30, or a WINDOW of 0, on an open channel closes the session with 1002', async (t) => {
  await refused(t, await channelSession(), frame(OPEN, 1), frame(WINDOW, 1, u32(2 ** 30)));
  await refused(t, await channelSession(), frame(OPEN, 1), frame(WINDOW, 1, u32(0)));
  // On a closed channel the same frame is ignored (it may be late): the session goes on.
  const session = await channelSession();
  await session.write(
    Buffer.concat([frame(OPEN, 1), frame(RST, 1, Buffer.from([0, 2])), frame(WINDOW, 1, u32(0))]),
  );
  await session.write(Buffer.concat([frame(OPEN, 2), frame(DATA, 2, Buffer.from('on'))]));
  t.deepEqual(await until(session, DATA, 2), Buffer.from('on'));
  t.is(session.state, 'open');
  await session.close();
});

test('more than 1024 channels open at once close the session with 1002; 1024 do not', async (t) => {
  const session = await channelSession();
  const opens: Buffer[] = [];
  for (let id = 1; id <= MAX_OPEN_CHANNELS; id++) opens.push(frame(OPEN, id));
  await session.write(Buffer.concat(opens));
  // Closing one makes room for the next.
  await session.write(frame(RST, 1, Buffer.from([0, 2])));
  await session.write(
    Buffer.concat([frame(OPEN, MAX_OPEN_CHANNELS + 1), frame(DATA, MAX_OPEN_CHANNELS + 1, Buffer.from('x'))]),
  );
  t.deepEqual(await until(session, DATA, MAX_OPEN_CHANNELS + 1), Buffer.from('x'));
  t.is(session.state, 'open');
  await refused(t, session, frame(OPEN, MAX_OPEN_CHANNELS + 2));
});

test("a broken frame resets the session's open channels and ends nothing else", async (t) => {
  const good = await channelSession();
  const bad = await channelSession();
  await bad.write(Buffer.concat([frame(OPEN, 1), frame(DATA, 1, Buffer.from('held'))]));
  await until(bad, DATA, 1); // the channel is open and joined to its backend
  const serverSide = [...outcomes.keys()].find((s) => s.remotePort === bad.localPort)!;
  await refused(t, bad, frame(0x09, 1));
  await serverSide.closed;
  // The channel's end is reported once the mux has seen the session close.
  for (let i = 0; i < 100 && outcomes.get(serverSide)!.length === 0; i++)
    await new Promise((r) => setImmediate(r));
  const ended = outcomes.get(serverSide)!;
  t.is(ended.length, 1);
  t.like(ended[0], { close: 1002, reason: 'channel protocol error' });
  // The other session still carries channels.
  await good.write(Buffer.concat([frame(OPEN, 1), frame(DATA, 1, Buffer.from('still'))]));
  t.deepEqual(await until(good, DATA, 1), Buffer.from('still'));
  await good.close();
});

test('an OPEN from the server side is refused by the client side (rule 2)', async (t) => {
  // A server that sends OPEN: the client-side mux (connect's) closes the session with 1002.
  const rogue = Server.create('127.0.0.1:0', serverKey, [SUITE], {
    workers: 0,
    channels: true,
  });
  rogue.on('session', (session) => {
    session.on('error', () => {});
    void session.write(frame(OPEN, 1)).catch(() => {});
  });
  await rogue.start();
  try {
    const session = await Client.create(serverPub, SUITE, { channels: true }).connect(
      `127.0.0.1:${rogue.address!.port}`,
    );
    session.on('error', () => {});
    const mux = new ChannelMux(session, MAX_MESSAGE_SIZE);
    t.true(mux.canOpen || session.state !== 'open');
    await once(session, 'close');
    t.is(session.closeCode, 1002);
  } finally {
    await rogue.stop({ drain: 0 });
  }
});
