/**
 * The Wireshark dissector's datagram half (tools/wireshark/secsess-dgram.lua) on real
 * captures: a DatagramClient and DatagramServer over loopback UDP, with small epoch budgets
 * so that both directions move epochs, captured by dumpcap (as root) with SECSESS_KEYLOG_FILE
 * set, read back by tshark: every Record packet opens (Finished records, HandshakeDone, the
 * messages, the Close), in later epochs too; without the key log they stay encrypted. And a
 * datagram channel of a stream session (no handshake on the wire), found by its secrets. Every
 * suite family: the default CBC+HMAC, AES-256-GCM and ChaCha20-Poly1305 (channels: the AEAD
 * ones, whose suite the dissector must find by trying).
 */
import { execFile } from 'node:child_process';
import process from 'node:process';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyPair } from '@secsess/keys';
import { Client, DatagramClient, DatagramServer, openDatagramChannel, Server, Symmetric } from '@secsess/sdk';
import type { AlgorithmSet, DatagramSession } from '@secsess/sdk';
import { captureFiles, startCapture } from './helpers/capture.js';
import { IN_CI } from './helpers/programs.js';
import { realTest } from './helpers/real-test.js';

const run = promisify(execFile);
const DISSECTOR = new URL('../../tools/wireshark/secsess.lua', import.meta.url).pathname;
const TEXTS = ['datagram one', 'datagram two', 'datagram three', 'datagram four', 'datagram five'];

/** Sends `text` until its echo comes back (a datagram may be lost, even on loopback). */
async function roundTrip(session: DatagramSession, text: string): Promise<void> {
  let done = false;
  const echoed = new Promise<void>((resolve) =>
    session.on('message', (m: Buffer) => {
      if (String(m) === text) resolve();
    }),
  );
  void echoed.then(() => (done = true));
  for (let i = 0; i < 100 && !done; i++) {
    session.send(text);
    await Promise.race([echoed, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  if (!done) throw new Error('no echo');
}

async function capture(t: ExecutionContext, suite: AlgorithmSet): Promise<{ pcap: string; keylog: string }> {
  const { pcap, keylog } = await captureFiles(t, 'secsess-wireshark-dgram-');
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const server = DatagramServer.create('127.0.0.1:0', pair.privateKey, suite, {
    workers: 0,
    rekeyAfterRecords: 2,
  });
  server.on('session', (session) => {
    session.on('message', (m: Buffer) => {
      if (session.state === 'open') session.send(m);
    });
    session.on('error', () => {});
  });
  server.on('handshakeError', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  const recording = await startCapture(t, pcap, `udp port ${port}`);
  const session = await DatagramClient.create(pair.publicKey, suite, { rekeyAfterRecords: 2 }).connect(
    `127.0.0.1:${port}`,
  );
  for (const text of TEXTS) await roundTrip(session, text);
  session.close(4002, 'dgram done');
  await recording.flush();
  await recording.stop();
  return { pcap, keylog };
}

const FIELDS = [
  'secsess.dgram.type',
  'secsess.dgram.epoch',
  'secsess.record.direction',
  'secsess.record.type',
  'secsess.data.text',
  'secsess.close.code',
  'secsess.close.reason',
  'secsess.record.encrypted',
  'secsess.hello.client_random',
  '_ws.col.Info',
  '_ws.expert.message',
];

async function dissect(
  pcap: string,
  keylog: string | null,
  extra: readonly string[] = [],
): Promise<Record<string, string[]>> {
  const env = { ...process.env };
  delete env['SECSESS_KEYLOG_FILE'];
  const args = ['-r', pcap, '-X', `lua_script:${DISSECTOR}`, ...extra];
  if (keylog !== null) args.push('-o', `secsess.keylog_file:${keylog}`);
  args.push('-Y', 'secsess_dgram', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|');
  for (const f of FIELDS) args.push('-e', f);
  const { stdout, stderr } = await run('tshark', args, { env, timeout: 120_000 });
  if (/Lua: Error/i.test(stderr)) throw new Error(`tshark: ${stderr}`);
  const out: Record<string, string[]> = Object.fromEntries(FIELDS.map((f) => [f, []]));
  for (const line of stdout.trimEnd().split('\n')) {
    line.split('\t').forEach((cell, i) => {
      if (cell !== '') out[FIELDS[i]!]!.push(...cell.split('|'));
    });
  }
  const luaErrors = out['_ws.expert.message']!.filter((m) => m.startsWith('Lua Error'));
  if (luaErrors.length > 0) throw new Error(`tshark: ${luaErrors.join('; ')}`);
  return out;
}

const root = typeof process.getuid === 'function' && process.getuid() === 0;

const SUITES: [string, AlgorithmSet][] = [
  ['the default suite', {}],
  ['AES-256-GCM', { symmetric: Symmetric.AES256GCM }],
  ['ChaCha20-Poly1305', { symmetric: Symmetric.CHACHA20POLY1305 }],
];

for (const [name, suite] of SUITES) {
  const title = `tshark with the dissector decrypts a captured datagram session across epochs, ${name}`;
  if (!root && !IN_CI) {
    test.skip(`${title} [skipped: capturing on lo needs root]`, () => {});
    continue;
  }
  realTest(['tshark', 'dumpcap'], true)(title, async (t) => {
    const { pcap, keylog } = await capture(t, suite);
    const f = await dissect(pcap, keylog);
    t.true(f['secsess.dgram.type']!.includes('0x43'), 'a Hello');
    t.true(f['secsess.dgram.type']!.includes('0x44'), 'a ServerHello');
    t.is(f['secsess.hello.client_random']!.length >= 1, true);
    const records = f['secsess.record.type']!.map((type, i) => ({
      type,
      dir: f['secsess.record.direction']![i]!,
    }));
    t.is(records.length, f['secsess.record.encrypted']!.length, 'every record opened');
    const types = (dir: string): Set<string> =>
      new Set(records.filter((r) => r.dir === dir).map((r) => r.type));
    for (const type of ['0x10', '0x12', '0x01']) t.true(types('s2c').has(type), `s2c ${type}`);
    for (const type of ['0x11', '0x01', '0x04']) t.true(types('c2s').has(type), `c2s ${type}`);
    const texts = new Set(f['secsess.data.text']);
    for (const text of TEXTS) t.true(texts.has(text), text);
    t.deepEqual(f['secsess.close.code'], ['4002']);
    t.deepEqual(f['secsess.close.reason'], ['dgram done']);
    // Both directions moved epochs (2 records each), and records of later epochs opened.
    t.true(Math.max(...f['secsess.dgram.epoch']!.map(Number)) >= 2);

    const plain = await dissect(pcap, null);
    t.deepEqual(plain['secsess.record.type'], []);
    t.is(plain['secsess.record.encrypted']!.length, f['secsess.record.encrypted']!.length);
  });
}

// The channel's suite is tried (no hello in the capture): each AEAD suite is found by its tag.
for (const [name, suite] of SUITES.slice(1)) {
  const channelTitle = `tshark with the dissector decrypts a captured datagram channel (no handshake: by the logged channel secrets), ${name}`;
  if (!root && !IN_CI) {
    test.skip(`${channelTitle} [skipped: capturing on lo needs root]`, () => {});
    continue;
  }
  realTest(['tshark', 'dumpcap'], true)(channelTitle, async (t) => {
    const { pcap, keylog } = await captureFiles(t, 'secsess-wireshark-channel-');
    const pair = await KeyPair.generateRSA({ bits: 2048 });
    const server = Server.create('127.0.0.1:0', pair.privateKey, suite, { workers: 0 });
    const dgram = DatagramServer.create('127.0.0.1:0', pair.privateKey, suite, { workers: 0 });
    server.on('session', (session) => {
      const ch = dgram.attach(session);
      ch.on('message', (m: Buffer) => {
        if (ch.state === 'open') ch.send(m);
      });
      ch.on('error', () => {});
    });
    await server.start();
    await dgram.start();
    t.teardown(async () => {
      await server.stop();
      await dgram.stop();
    });
    const udp = dgram.address!.port;
    const recording = await startCapture(t, pcap, `udp port ${udp}`);
    const stream = await Client.create(pair.publicKey, suite).connect(`127.0.0.1:${server.address!.port}`);
    const ch = await openDatagramChannel(stream, `127.0.0.1:${udp}`);
    for (const text of TEXTS.slice(0, 2)) await roundTrip(ch, text);
    ch.close(4003, 'channel done');
    await recording.flush();
    await recording.stop();
    await stream.close();
    // No hello on the wire: the port is given; the records are matched to the channel secrets.
    const f = await dissect(pcap, keylog, ['-o', `secsess.udp_port:${udp}`]);
    t.is(f['secsess.record.type']!.length, f['secsess.record.encrypted']!.length, 'every record opened');
    t.true(f['secsess.record.type']!.length >= 5);
    const texts = new Set(f['secsess.data.text']);
    for (const text of TEXTS.slice(0, 2)) t.true(texts.has(text), text);
    t.deepEqual(f['secsess.close.code'], ['4003']);
    t.deepEqual(new Set(f['secsess.record.direction']), new Set(['c2s', 's2c']));
    // The suite found by trying is named in Info.
    t.true(f['_ws.col.Info']!.some((info) => info.includes(`channel (${name}) epoch=`)));
  });
}
