/**
 * Channel frames on their own (PROTOCOL.md §6b, cli/src/tunnel/channels/frames.ts): what the
 * reader refuses from a frame's bytes alone, and that the writer's messages are whole frames
 * that read back as written, however the batch is cut.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import test from 'ava';
import {
  ChannelProtocolError,
  DATA,
  FIN,
  FrameWriter,
  OPEN,
  RST,
  WINDOW,
  readFrames,
} from '../src/tunnel/channels/frames.js';
import { channelFrame } from './helpers/channel-tunnel.js';

interface Frame {
  readonly type: number;
  readonly channel: number;
  readonly body: Buffer;
}

const frame = channelFrame;

const u16 = (v: number): Buffer => Buffer.from([v >> 8, v & 0xff]);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};

function read(message: Buffer): Frame[] {
  const out: Frame[] = [];
  readFrames(message, (type, channel, body) => out.push({ type, channel, body: Buffer.from(body) }));
  return out;
}

test('every frame type of §6b reads back with its channel and body, in order', (t) => {
  const message = Buffer.concat([
    frame(OPEN, 1),
    frame(DATA, 1, Buffer.from('PING\r\n')),
    frame(FIN, 1),
    frame(RST, 7, u16(3)),
    frame(WINDOW, 0xffff_ffff, u32(65_536)),
  ]);
  t.deepEqual(read(message), [
    { type: OPEN, channel: 1, body: Buffer.alloc(0) },
    { type: DATA, channel: 1, body: Buffer.from('PING\r\n') },
    { type: FIN, channel: 1, body: Buffer.alloc(0) },
    { type: RST, channel: 7, body: u16(3) },
    { type: WINDOW, channel: 0xffff_ffff, body: u32(65_536) },
  ]);
  // A message holds one frame or more: an empty one is refused too (rule 1).
  t.throws(() => read(Buffer.alloc(0)), { instanceOf: ChannelProtocolError, message: /empty message/ });
});

test('a message that ends inside a header or a body is refused (rule 1)', (t) => {
  const whole = Buffer.concat([frame(OPEN, 1), frame(DATA, 1, Buffer.from('abcdef'))]);
  for (let cut = 1; cut < whole.length; cut++) {
    if (cut === 9) continue; // the OPEN alone is a whole message
    const err = t.throws(() => read(whole.subarray(0, cut)), { instanceOf: ChannelProtocolError });
    t.is(err?.code, 'ERR_CHANNEL_PROTOCOL');
  }
  // A length that runs past the message, even by one byte, with the header whole.
  const long = frame(DATA, 1, Buffer.from('abc'));
  long.writeUInt32BE(4, 5);
  t.throws(() => read(long), { instanceOf: ChannelProtocolError, message: /body cut short/ });
  const huge = frame(DATA, 1, Buffer.from('abc'));
  huge.writeUInt32BE(0xffff_ffff, 5);
  t.throws(() => read(huge), { instanceOf: ChannelProtocolError, message: /body cut short/ });
});

test('types outside the table are refused, 0x00 and 0x06–0xff', (t) => {
  for (const type of [0x00, 0x06, 0x17, 0x80, 0xff]) {
    t.throws(() => read(frame(type, 1)), { instanceOf: ChannelProtocolError, message: /unknown type/ });
  }
});

test('bodies of the wrong size are refused: OPEN and FIN empty, RST 2, WINDOW 4, DATA not empty', (t) => {
  const bad: Array<[number, Buffer]> = [
    [OPEN, Buffer.alloc(1)],
    [FIN, Buffer.alloc(1)],
    [RST, Buffer.alloc(1)],
    [RST, Buffer.alloc(3)],
    [WINDOW, Buffer.alloc(3)],
    [WINDOW, Buffer.alloc(5)],
    [DATA, Buffer.alloc(0)],
  ];
  for (const [type, body] of bad) {
    t.throws(() => read(frame(type, 1, body)), { instanceOf: ChannelProtocolError }, `type ${type}`);
  }
});

test('channel 0 is refused (rule 3); a WINDOW of 0 is left to the mux (refused on an open channel only)', (t) => {
  t.throws(() => read(frame(DATA, 0, Buffer.from('x'))), { message: /channel 0/ });
  t.throws(() => read(frame(OPEN, 0)), { message: /channel 0/ });
  t.deepEqual(read(frame(WINDOW, 1, u32(0))), [{ type: WINDOW, channel: 1, body: u32(0) }]);
});

test('frames before a broken one are visited, none after it', (t) => {
  const seen: number[] = [];
  const message = Buffer.concat([frame(OPEN, 1), frame(FIN, 1), frame(0x09, 1), frame(OPEN, 2)]);
  t.throws(() => readFrames(message, (type) => seen.push(type)), { instanceOf: ChannelProtocolError });
  t.deepEqual(seen, [OPEN, FIN]);
});

test('the writer packs frames into messages of whole frames, never past the message size', (t) => {
  const max = 1000;
  const messages: Buffer[] = [];
  // `send` must take the bytes before it returns (the writer reuses its buffer): copy them.
  const writer = new FrameWriter(max, (m) => messages.push(Buffer.from(m)));
  const written: Frame[] = [];
  let seed = 1;
  for (let i = 0; i < 400; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const channel = 1 + (seed % 5);
    if (seed % 7 === 0) {
      writer.control(WINDOW, channel, 1 + (seed % 100_000));
      written.push({ type: WINDOW, channel, body: u32(1 + (seed % 100_000)) });
    } else if (seed % 11 === 0) {
      writer.control(RST, channel, 2);
      written.push({ type: RST, channel, body: u16(2) });
    } else if (seed % 13 === 0) {
      writer.control(FIN, channel);
      written.push({ type: FIN, channel, body: Buffer.alloc(0) });
    } else {
      const body = randomBytes(1 + (seed % 300));
      writer.data(channel, body);
      // The writer copied it: what the caller does with its buffer afterwards changes nothing.
      const kept = Buffer.from(body);
      body.fill(0);
      written.push({ type: DATA, channel, body: kept });
    }
    if (i % 50 === 49) writer.flush();
  }
  writer.flush();
  t.is(writer.pending, 0);
  t.true(messages.length > 1);
  for (const m of messages) t.true(m.length <= max && m.length > 0, `a message of ${m.length} bytes`);
  // Each message reads on its own (no frame spans two), and together they are what was written.
  t.deepEqual(messages.flatMap(read), written);
});

test('a flush with nothing packed sends nothing; a frame that would pass the size goes in the next message', (t) => {
  const messages: Buffer[] = [];
  const writer = new FrameWriter(100, (m) => messages.push(Buffer.from(m)));
  writer.flush();
  t.is(messages.length, 0);
  writer.data(1, Buffer.alloc(80, 1)); // 89 bytes
  t.is(writer.pending, 89);
  writer.control(WINDOW, 1, 5); // 13 more would make 102: the 89 go first
  t.is(messages.length, 1);
  t.is(messages[0]!.length, 89);
  t.is(writer.pending, 13);
  writer.flush();
  t.deepEqual(read(messages[1]!), [{ type: WINDOW, channel: 1, body: u32(5) }]);
});
