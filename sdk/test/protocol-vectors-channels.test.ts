/**
 * PROTOCOL.md §11, the channels block (§6b): every printed value recomputed from the
 * document's formulas with raw node:crypto alone (no code from src/), both Data records
 * opened with §5's receiver rules, and their payloads parsed with a frame parser of §6b
 * written here, which must find exactly the frames the §11 bullet names. (That the stored
 * block is what the implementation produces today, and that PROTOCOL.md shows it, is
 * protocol-vectors.test.ts's check of the whole vectors file.)
 */
import test from 'ava';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ServerConnection } from '../src/protocol/index.js';
import { CHANNELS_BLOCK, DEFAULT_BLOCK, PROTOCOL_MD, readVectors, seededRandom } from './helpers/vectors.js';
import { b, Checked, hk, HLEN, keysOf, openRecord } from './helpers/vector-check.js';
import { Endpoint, fixturePrivateKey } from './helpers/protocol-pair.js';

const stored = readVectors()!;

// ---- §6b frames, parsed here ----

const TYPES: Record<number, string> = { 1: 'OPEN', 2: 'DATA', 3: 'FIN', 4: 'RST', 5: 'WINDOW' };

/** One frame, described as the §11 bullet names it. */
function describe(type: string, channel: number, body: Buffer): string {
  switch (type) {
    case 'OPEN':
    case 'FIN':
      if (body.length !== 0) throw new Error(`${type} with a body`);
      return `${type} ${channel}`;
    case 'DATA':
      if (body.length === 0) throw new Error('empty DATA');
      return `DATA ${channel} ${JSON.stringify(body.toString('latin1'))}`;
    case 'RST':
      if (body.length !== 2) throw new Error('RST body');
      return `RST ${channel} code ${body.readUInt16BE(0)}`;
    case 'WINDOW':
      if (body.length !== 4) throw new Error('WINDOW body');
      if (body.readUInt32BE(0) === 0) throw new Error('WINDOW increment 0');
      return `WINDOW ${channel} +${body.readUInt32BE(0)}`;
    default:
      throw new Error('type');
  }
}

/** A message as §6b's whole frames: u8 type ‖ u32 channel ‖ u32 length ‖ body, back to back. */
function parseFrames(message: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < message.length) {
    if (message.length - at < 9) throw new Error('message ends inside a frame header');
    const type = TYPES[message[at]!];
    if (type === undefined) throw new Error(`type ${message[at]} not in the table`);
    const channel = message.readUInt32BE(at + 1);
    if (channel === 0) throw new Error('channel 0');
    const length = message.readUInt32BE(at + 5);
    if (message.length - at - 9 < length) throw new Error('message ends inside a frame body');
    out.push(describe(type, channel, message.subarray(at + 9, at + 9 + length)));
    at += 9 + length;
  }
  return out;
}

/** What the §11 bullet names: c2s (seq 1) and s2c (seq 1). */
const C2S_FRAMES = ['OPEN 1', 'DATA 1 "PING\\r\\n"', 'OPEN 2', 'DATA 2 "GET k\\r\\n"', 'FIN 2'];
const S2C_FRAMES = ['DATA 1 "+PONG\\r\\n"', 'WINDOW 2 +65536', 'RST 2 code 1'];

// ---- the tests ----

test('the frame parser of this test refuses what §6b refuses and reads what it allows', (t) => {
  const frame = (type: number, channel: number, body = Buffer.alloc(0)) => {
    const h = Buffer.alloc(9);
    h[0] = type;
    h.writeUInt32BE(channel, 1);
    h.writeUInt32BE(body.length, 5);
    return Buffer.concat([h, body]);
  };
  t.deepEqual(parseFrames(frame(2, 7, Buffer.from('x'))), ['DATA 7 "x"']);
  t.throws(() => parseFrames(frame(2, 7, Buffer.from('x')).subarray(0, 9)), {
    message: /inside a frame body/,
  });
  t.throws(() => parseFrames(frame(1, 1).subarray(0, 8)), { message: /inside a frame header/ });
  t.throws(() => parseFrames(frame(6, 1)), { message: /not in the table/ });
  t.throws(() => parseFrames(frame(1, 0)), { message: /channel 0/ });
  t.throws(() => parseFrames(frame(1, 1, Buffer.from('x'))), { message: /OPEN with a body/ });
  t.throws(() => parseFrames(frame(2, 1)), { message: /empty DATA/ });
  t.throws(() => parseFrames(frame(4, 1, Buffer.alloc(3))), { message: /RST body/ });
  t.throws(() => parseFrames(frame(5, 1, Buffer.alloc(4))), { message: /increment 0/ });
});

test('channels block: flags 04, the hellos, the key schedule and both Finished records follow from PROTOCOL.md', (t) => {
  const d = stored[DEFAULT_BLOCK]!;
  const c = new Checked(t, stored[CHANNELS_BLOCK]!);
  c.is('client_hello_flags', '04');
  // The ClientHello is the default block's with the flags byte (frame byte 12) 04: nothing
  // else differs, as every input is the default block's.
  const base = b(d.client_hello!);
  t.is(base[12], 0x00, "the default block's flags");
  const hello = c.get('client_hello');
  t.is(hello[12], 0x04);
  t.is(hello.length, base.length);
  const differing = [...hello.keys()].filter((i) => hello[i] !== base[i]);
  t.deepEqual(differing, [12], 'the ClientHello differs from the default block’s in its flags byte alone');
  // The ServerHello carries no flags: the default block's, byte for byte.
  c.is('server_hello', d.server_hello!);

  // §4, with the default block's inputs and this transcript.
  const th = createHash('sha256')
    .update(Buffer.concat([hello, c.get('server_hello')]))
    .digest();
  c.is('transcript_hash', th);
  t.not(th.toString('hex'), d.transcript_hash, 'the flag is in the transcript');
  const master = hk(
    Buffer.concat([b(d.pre_secret!), b(d.x25519_shared!)]),
    Buffer.concat([Buffer.from('secsess v1 master'), th]),
    HLEN,
    Buffer.concat([b(d.client_random!), b(d.server_random!)]),
  );
  c.is('master', master);
  const finishedKey = hk(master, 'secsess v1 server finished', HLEN);
  c.is('finished_key', finishedKey);
  const proof = createHmac('sha256', finishedKey).update(th).digest();
  c.is('server_proof', proof);
  const c2s = hk(master, 'secsess v1 c2s traffic', HLEN);
  const s2c = hk(master, 'secsess v1 s2c traffic', HLEN);
  c.is('c2s_traffic_0', c2s);
  c.is('s2c_traffic_0', s2c);
  const c2sKeys = keysOf(c2s);
  const s2cKeys = keysOf(s2c);
  c.is('c2s_cipher_key_0', c2sKeys.key);
  c.is('c2s_mac_key_0', c2sKeys.mac);
  c.is('s2c_cipher_key_0', s2cKeys.key);
  c.is('s2c_mac_key_0', s2cKeys.mac);
  c.record(s2cKeys, 0, 'server_finished_record', 0x10, proof);
  c.record(c2sKeys, 0, 'client_finished_record', 0x11, b('00'));
  // The Finished records cover the flag: under the default block's keys they do not open.
  const defaultKeys = keysOf(b(d.s2c_traffic_0!));
  t.throws(() => openRecord(defaultKeys, 0, c.get('server_finished_record')), { message: 'tag' });

  // §6b: one message each way, a sequence of whole channel frames, sealed as Data (0x01), seq 1.
  const c2sPayload = c.get('c2s_channel_payload');
  const s2cPayload = c.get('s2c_channel_payload');
  c.record(c2sKeys, 1, 'c2s_data_record', 0x01, c2sPayload);
  c.record(s2cKeys, 1, 's2c_data_record', 0x01, s2cPayload);
  t.deepEqual(parseFrames(openRecord(c2sKeys, 1, c.get('c2s_data_record')).payload), C2S_FRAMES);
  t.deepEqual(parseFrames(openRecord(s2cKeys, 1, c.get('s2c_data_record')).payload), S2C_FRAMES);
  // A Data record is bound to its seq like every record.
  for (const seq of [0, 2]) {
    t.throws(() => openRecord(c2sKeys, seq, c.get('c2s_data_record')), { message: 'tag' });
    t.throws(() => openRecord(s2cKeys, seq, c.get('s2c_data_record')), { message: 'tag' });
  }
  c.done();
});

test('the channels bullet of §11 names the frames this test expects', (t) => {
  const doc = readFileSync(PROTOCOL_MD, 'utf8');
  const bullet = doc.slice(doc.indexOf('- **Channels**'), doc.indexOf('<!-- vectors:begin'));
  const prose = bullet.replace(/\s+/g, ' ');
  t.true(prose.includes('ClientHello flags `04`'), prose);
  t.true(
    prose.includes('c2s (seq 1): OPEN 1, DATA 1 "PING\\r\\n", OPEN 2, DATA 2 "GET k\\r\\n", FIN 2.'),
    prose,
  );
  t.true(prose.includes('s2c (seq 1): DATA 1 "+PONG\\r\\n", WINDOW 2 +65536, RST 2 code 1.'), prose);
});

test('a server that serves channels accepts exactly these bytes; one that does not refuses the hello', (t) => {
  const c = stored[CHANNELS_BLOCK]!;
  const make = (channels: boolean) => {
    const e = new Endpoint();
    const server = new ServerConnection(e.handler(), {
      keys: [fixturePrivateKey('server-2048')],
      random: seededRandom('server'),
      ephemeralPrivate: seededRandom('server x25519')(32),
      channels,
    });
    return { e, server };
  };
  const { e, server } = make(true);
  server.receive(b(c.client_hello!));
  t.is(e.sent[0]!.toString('hex'), c.server_hello!);
  t.is(e.sent[1]!.toString('hex'), c.server_finished_record!);
  server.receive(b(c.client_finished_record!));
  t.is(server.state, 'open');
  t.true(e.info?.channels);
  server.receive(b(c.c2s_data_record!));
  t.is(e.messages[0]?.toString('hex'), c.c2s_channel_payload);

  const old = make(false);
  t.throws(() => old.server.receive(b(c.client_hello!)), { code: 'ERR_HANDSHAKE' });
  t.not(old.server.state, 'open');
});
