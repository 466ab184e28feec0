/**
 * The Wireshark dissector's datagram half on PROTOCOL.md's datagram vectors (§D11, §D12),
 * written as UDP packets: every handshake block's packets parse and its records open with
 * SECSESS_DGRAM_* lines (KeyRequest, Cookie, KeyResponse, Hello, ServerHello with its
 * ServerFinished, ClientFinished, HandshakeDone; every suite), and every record block's
 * packets — epochs 0, 1 and 2, a seq near 2^40 — open as a datagram channel matched by its
 * secret. Needs tshark (CI=true: a missing one fails).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import handshakes from '../../sdk/test/fixtures/dgram-handshake-vectors.json' with { type: 'json' };
import recordVectors from '../../sdk/test/fixtures/dgram-record-vectors.json' with { type: 'json' };
import { udpPcap } from './helpers/pcap.js';
import type { Segment } from './helpers/pcap.js';
import { realTest } from './helpers/real-test.js';

const run = promisify(execFile);
const DISSECTOR = new URL('../../tools/wireshark/secsess.lua', import.meta.url).pathname;
const PORT = 4001;
const H = handshakes as unknown as Record<string, Record<string, string>>;
const RV = recordVectors as unknown as Record<string, Record<string, string>>;
const DEFAULT = H['dgram: default suite, full exchange with KeyRequest']!;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const FIELDS = [
  'secsess.dgram.type',
  'secsess.dgram.epoch',
  'secsess.dgram.seq',
  'secsess.record.direction',
  'secsess.record.type',
  'secsess.record.encrypted',
  'secsess.hello.client_random',
  '_ws.expert.message',
];

async function dissect(
  t: ExecutionContext,
  datagrams: Segment[],
  keylog: string,
  extra: readonly string[] = [],
): Promise<Record<string, string[]>> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-dgram-vectors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'vectors.pcap');
  const keys = join(dir, 'keys.log');
  await writeFile(pcap, udpPcap(datagrams, 50000, PORT));
  await writeFile(keys, keylog);
  const env = { ...process.env };
  delete env['SECSESS_KEYLOG_FILE'];
  const args = ['-r', pcap, '-X', `lua_script:${DISSECTOR}`, '-o', `secsess.keylog_file:${keys}`, ...extra];
  args.push('-Y', 'secsess_dgram', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|');
  for (const f of FIELDS) args.push('-e', f);
  const { stdout, stderr } = await run('tshark', args, { env, timeout: 120_000 });
  t.false(/Lua: Error/i.test(stderr), stderr);
  const out: Record<string, string[]> = Object.fromEntries(FIELDS.map((f) => [f, []]));
  for (const line of stdout.trimEnd().split('\n')) {
    line.split('\t').forEach((cell, i) => {
      if (cell !== '') out[FIELDS[i]!]!.push(...cell.split('|'));
    });
  }
  t.deepEqual(
    out['_ws.expert.message']!.filter((m) => m.startsWith('Lua Error')),
    [],
    'no Lua error while dissecting',
  );
  return out;
}

/** A KeyRequest packet: its head, then zero bytes up to its length. */
const padded = (head: string, length: string): Buffer => {
  const packet = Buffer.alloc(parseInt(length, 10));
  hex(head).copy(packet);
  return packet;
};

realTest(['tshark'])(
  'every datagram handshake block parses and its records open (found by the heuristic)',
  async (t) => {
    for (const [name, block] of Object.entries(H)) {
      const datagrams: Segment[] = [];
      if (block['key_request_1_head']) {
        datagrams.push({
          fromClient: true,
          bytes: padded(block['key_request_1_head'], block['key_request_1_length']!),
        });
        datagrams.push({ fromClient: false, bytes: hex(block['cookie_packet']!) });
        datagrams.push({
          fromClient: true,
          bytes: padded(block['key_request_2_head']!, block['key_request_2_length']!),
        });
        datagrams.push({ fromClient: false, bytes: hex(block['key_response_packet']!) });
      }
      datagrams.push({ fromClient: true, bytes: hex(block['hello_packet']!) });
      datagrams.push({ fromClient: false, bytes: hex(block['server_hello_packet']!) });
      datagrams.push({ fromClient: true, bytes: hex(block['client_finished_record']!) });
      if (block['handshake_done_record'])
        datagrams.push({ fromClient: false, bytes: hex(block['handshake_done_record']) });
      const cr = DEFAULT['client_random']!;
      const keylog = `SECSESS_DGRAM_C2S_SECRET_0 ${cr} ${block['c2s_0']}\nSECSESS_DGRAM_S2C_SECRET_0 ${cr} ${block['s2c_0']}\n`;
      const f = await dissect(t, datagrams, keylog);
      const types = block['key_request_1_head'] ? ['0x41', '0x45', '0x41', '0x42'] : [];
      types.push('0x43', '0x44', '0x47');
      if (block['handshake_done_record']) types.push('0x47');
      t.deepEqual(f['secsess.dgram.type'], types, name);
      const records = f['secsess.record.type']!.map(
        (type, i) => `${f['secsess.record.direction']![i]} ${type}`,
      );
      const expected = ['s2c 0x10', 'c2s 0x11'];
      if (block['handshake_done_record']) expected.push('s2c 0x12');
      t.deepEqual(records, expected, name);
    }
  },
);

realTest(['tshark'])(
  'every datagram record block opens in every epoch, as a channel matched by its secret',
  async (t) => {
    // The blocks share their conn_id: one capture each.
    for (const [name, block] of Object.entries(RV)) {
      const datagrams: Segment[] = [];
      const expected: string[] = [];
      // A fake stream session's channel secrets: the block's T_0 (c2s) and an unrelated one
      // (s2c), so only trying the right secret opens the records.
      const cr = randomBytes(32).toString('hex');
      const other = randomBytes(hex(block['T_0']!).length).toString('hex');
      const keylog = `SECSESS_CHANNEL_C2S_SECRET_0 ${cr} ${block['T_0']}\nSECSESS_CHANNEL_S2C_SECRET_0 ${cr} ${other}\n`;
      for (const [key, value] of Object.entries(block)) {
        const m = /^record_e(\d+)_s(\d+)$/.exec(key);
        if (!m) continue;
        datagrams.push({ fromClient: true, bytes: hex(value) });
        expected.push(`${m[1]} ${m[2]}`);
      }
      const f = await dissect(t, datagrams, keylog, ['-o', `secsess.udp_port:${PORT}`]);
      t.deepEqual(
        f['secsess.dgram.epoch']!.map((e, i) => `${e} ${f['secsess.dgram.seq']![i]}`),
        expected,
        name,
      );
      t.is(f['secsess.record.type']!.length, expected.length, `${name}: every record opened`);
      t.deepEqual(new Set(f['secsess.record.direction']), new Set(['c2s']), name);
    }
  },
);

realTest(['tshark'])(
  'short and unknown datagram packets on the port are marked, without a Lua error',
  async (t) => {
    const datagrams: Segment[] = [
      { fromClient: true, bytes: Buffer.concat([Buffer.from([0x43]), randomBytes(16)]) },
      { fromClient: true, bytes: Buffer.from([0x47, 1, 2, 3]) },
      { fromClient: true, bytes: Buffer.concat([Buffer.from([0x47]), randomBytes(60)]) },
      { fromClient: false, bytes: Buffer.from('hello') },
    ];
    const f = await dissect(t, datagrams, '', ['-o', `secsess.udp_port:${PORT}`]);
    t.deepEqual(f['secsess.dgram.type'], ['0x43', '0x47', '0x47', '0x68']);
    t.deepEqual(f['secsess.record.type'], []);
  },
);
