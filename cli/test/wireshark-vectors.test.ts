/**
 * The Wireshark dissector (tools/wireshark/secsess.lua) on PROTOCOL.md §11's test vectors:
 * each block's frames, written as a TCP conversation cut into segments of 1, 2, 3, 5, 8 …
 * bytes (so frame headers and bodies span segments), with a key log made of the block's
 * traffic secrets. Every record type opens (the default block has all of them and a
 * KeyUpdate), in every suite, with the KeyRequest, client authentication and resumption
 * frames parsed field by field. Needs tshark (CI=true: a missing one fails).
 */
import { execFile } from 'node:child_process';
import { hkdfSync } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import vectors from '../../sdk/test/fixtures/vectors.json' with { type: 'json' };
import { tcpPcap } from './helpers/pcap.js';
import type { Conversation, Segment } from './helpers/pcap.js';
import { realTest } from './helpers/real-test.js';

const run = promisify(execFile);
const DISSECTOR = new URL('../../tools/wireshark/secsess.lua', import.meta.url).pathname;
const PORT = 4000;
const V = vectors as unknown as Record<string, Record<string, string>>;
const DEFAULT = V['default suite, full exchange']!;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A conversation from frames (true: from the client), each run of one side's frames cut into small segments (or not). */
function conversation(clientPort: number, frames: readonly [boolean, Buffer][], cut = true): Conversation {
  const sizes = cut ? [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233] : [Infinity];
  const segments: Segment[] = [];
  let k = 0;
  for (let i = 0; i < frames.length;) {
    const fromClient = frames[i]![0];
    const flight: Buffer[] = [];
    while (i < frames.length && frames[i]![0] === fromClient) flight.push(frames[i++]![1]);
    const bytes = Buffer.concat(flight);
    for (let at = 0; at < bytes.length;) {
      const n = sizes[k++ % sizes.length]!;
      segments.push({ fromClient, bytes: bytes.subarray(at, at + n) });
      at += n;
    }
  }
  return { clientPort, segments };
}

const FIELDS = [
  'tcp.stream',
  'secsess.frame.type',
  'secsess.record.direction',
  'secsess.record.seq',
  'secsess.record.type',
  'secsess.record.generation',
  'secsess.data.text',
  'secsess.message',
  'secsess.ping.payload',
  'secsess.pong.payload',
  'secsess.close.code',
  'secsess.close.reason',
  'secsess.hello.flags.client_auth',
  'secsess.hello.flags.tickets',
  'secsess.key.spki',
  'secsess.finished.signature',
  'secsess.finished.server_proof',
  'secsess.ticket.lifetime',
  'secsess.resume.binder',
  'secsess.record.encrypted',
  'secsess.record.authentic',
  'secsess.alert.code',
  '_ws.expert.message',
];

type Fields = Record<string, string[]>;

/** tshark's fields for the conversations, with `keylog` as the key log: all occurrences of each field. */
async function dissect(
  t: ExecutionContext,
  conversations: Conversation[],
  keylog: string,
  extra: readonly string[] = [],
): Promise<Fields> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-vectors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'vectors.pcap');
  const keys = join(dir, 'keys.log');
  await writeFile(pcap, tcpPcap(conversations, PORT));
  await writeFile(keys, keylog);
  const env = { ...process.env };
  delete env['SECSESS_KEYLOG_FILE'];
  const args = ['-r', pcap, '-X', `lua_script:${DISSECTOR}`, '-o', `secsess.tcp_port:${PORT}`, ...extra];
  args.push('-o', `secsess.keylog_file:${keys}`, '-Y', 'secsess', '-T', 'fields', '-E', 'occurrence=a');
  args.push('-E', 'aggregator=|');
  for (const f of FIELDS) args.push('-e', f);
  const { stdout, stderr } = await run('tshark', args, { env, timeout: 120_000 });
  t.false(/Lua: Error/i.test(stderr), stderr);
  const out: Fields = Object.fromEntries(FIELDS.map((f) => [f, []]));
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

/** The decrypted records as `dir seq type generation` strings, in capture order. */
const records = (f: Fields): string[] =>
  f['secsess.record.type']!.map(
    (type, i) =>
      `${f['secsess.record.direction']![i]} ${f['secsess.record.seq']![i]} ${type} ${f['secsess.record.generation']![i]}`,
  );

const keyLine = (cr: string, c2s: string, s2c: string): string =>
  `SECSESS_C2S_TRAFFIC_SECRET_0 ${cr} ${c2s}\nSECSESS_S2C_TRAFFIC_SECRET_0 ${cr} ${s2c}\n`;

realTest(['tshark'])(
  'every record of the default block opens, fragments and KeyUpdate included',
  async (t) => {
    const d = DEFAULT;
    const c = (k: string): [boolean, Buffer] => [true, hex(d[k]!)];
    const s = (k: string): [boolean, Buffer] => [false, hex(d[k]!)];
    const frames = [
      c('client_hello'),
      s('server_hello'),
      s('server_finished_record'),
      c('client_finished_record'),
      c('c2s_data_record'),
      c('c2s_datamore_record'),
      c('c2s_data_final_record'),
      c('c2s_databatch_record'),
      c('c2s_ping_record'),
      s('s2c_data_record'),
      s('s2c_pong_record'),
      c('c2s_keyupdate_record'),
      c('c2s_close_record'),
      s('s2c_close_record'),
    ];
    const keys = keyLine(d['client_random']!, d['c2s_traffic_0']!, d['s2c_traffic_0']!);
    const f = await dissect(t, [conversation(40000, frames)], keys);
    // Two passes (-2) show the same: the second reads what the first kept per frame.
    t.deepEqual(await dissect(t, [conversation(40000, frames)], keys, ['-2']), f);
    t.deepEqual(records(f), [
      's2c 0 0x10 0',
      'c2s 0 0x11 0',
      'c2s 1 0x01 0',
      'c2s 2 0x02 0',
      'c2s 3 0x01 0',
      'c2s 4 0x03 0',
      'c2s 5 0x05 0',
      's2c 1 0x01 0',
      's2c 2 0x06 0',
      'c2s 6 0x07 0',
      'c2s 7 0x04 1',
      's2c 3 0x04 0',
    ]);
    t.deepEqual(f['secsess.data.text'], [
      'hello, secsess',
      'a fragmented mes',
      'sage',
      'one',
      'two',
      'hello, client',
    ]);
    t.deepEqual(f['secsess.message'], [Buffer.from('a fragmented message').toString('hex')]);
    t.deepEqual(f['secsess.ping.payload'], [d['c2s_ping_payload']]);
    t.deepEqual(f['secsess.pong.payload'], [d['c2s_ping_payload']]);
    t.deepEqual(f['secsess.close.code'], ['1000', '1000']);
    t.deepEqual(f['secsess.close.reason'], ['bye']);
    t.deepEqual(f['secsess.finished.server_proof'], [d['server_proof']]);
  },
);

realTest(['tshark'])('every suite’s block opens: Finished records, Data and End', async (t) => {
  for (const [name, block] of Object.entries(V).filter(([n]) => n.startsWith('suite '))) {
    const ids = hex(block['suite_ids']!);
    const withSuite = (hello: string): Buffer => {
      const frame = hex(hello);
      ids.copy(frame, 9);
      return frame;
    };
    const frames: [boolean, Buffer][] = [
      [true, withSuite(DEFAULT['client_hello']!)],
      [false, withSuite(DEFAULT['server_hello']!)],
      [false, hex(block['server_finished_record']!)],
      [true, hex(block['client_finished_record']!)],
      [true, hex(block['c2s_data_record']!)],
      [true, hex(block['c2s_end_record']!)],
    ];
    const f = await dissect(
      t,
      [conversation(40000, frames)],
      keyLine(DEFAULT['client_random']!, block['c2s_traffic_0']!, block['s2c_traffic_0']!),
    );
    t.deepEqual(records(f), ['s2c 0 0x10 0', 'c2s 0 0x11 0', 'c2s 1 0x01 0', 'c2s 2 0x09 0'], name);
    t.deepEqual(f['secsess.data.text'], ['hello, secsess'], name);
    t.deepEqual(f['secsess.finished.server_proof'], [block['server_proof']], name);
  }
});

realTest(['tshark'])('KeyRequest/KeyResponse and client authentication parse and open', async (t) => {
  const kr = V['KeyRequest first (trust on first use)']!;
  const first = await dissect(
    t,
    [
      conversation(40000, [
        [true, hex(kr['key_request']!)],
        [false, hex(kr['key_response']!)],
        [true, hex(DEFAULT['client_hello']!)],
        [false, hex(DEFAULT['server_hello']!)],
        [false, hex(kr['server_finished_record']!)],
        [true, hex(kr['client_finished_record']!)],
      ]),
    ],
    keyLine(DEFAULT['client_random']!, kr['c2s_traffic_0']!, kr['s2c_traffic_0']!),
  );
  t.deepEqual(first['secsess.frame.type'], ['0x01', '0x02', '0x03', '0x04', '0x17', '0x17']);
  t.is(first['secsess.key.spki']!.length, 1);
  t.deepEqual(records(first), ['s2c 0 0x10 0', 'c2s 0 0x11 0']);

  const auth = V['client authentication']!;
  const hello = hex(DEFAULT['client_hello']!);
  hello[12] = 0x01; // flags: the client authenticates
  const f = await dissect(
    t,
    [
      conversation(40000, [
        [true, hello],
        [false, hex(DEFAULT['server_hello']!)],
        [false, hex(auth['server_finished_record']!)],
        [true, hex(auth['client_finished_record']!)],
      ]),
    ],
    keyLine(DEFAULT['client_random']!, auth['c2s_traffic_0']!, auth['s2c_traffic_0']!),
  );
  t.deepEqual(f['secsess.hello.flags.client_auth'], ['1']);
  t.deepEqual(records(f), ['s2c 0 0x10 0', 'c2s 0 0x11 0']);
  t.deepEqual(f['secsess.key.spki'], [auth['client_spki']]);
  t.deepEqual(f['secsess.finished.signature'], [auth['client_signature']]);
});

realTest(['tshark'])(
  'resumption: NewTicket, ResumeHello, the resumed session’s records, ResumeRefused',
  async (t) => {
    const r = V['resumption (tickets), default suite']!;
    const traffic = (label: string): string =>
      Buffer.from(hkdfSync('sha256', hex(r['master']!), Buffer.alloc(0), label, 32)).toString('hex');
    const c = (k: string): [boolean, Buffer] => [true, hex(r[k]!)];
    const s = (k: string): [boolean, Buffer] => [false, hex(r[k]!)];
    const f = await dissect(
      t,
      [
        conversation(40000, [
          c('client_hello'),
          s('server_hello'),
          s('server_finished_record'),
          c('client_finished_record'),
          s('new_ticket_record'),
        ]),
        conversation(40001, [
          c('resume_hello'),
          s('resume_server_hello'),
          s('resume_server_finished_record'),
          c('resume_client_finished_record'),
          s('resume_new_ticket_record'),
          c('resume_c2s_data_record'),
        ]),
        conversation(40002, [c('resume_hello'), s('resume_refused')]),
      ],
      keyLine(
        DEFAULT['client_random']!, // the first handshake's randoms are the default block's
        traffic('secsess v1 c2s traffic'),
        traffic('secsess v1 s2c traffic'),
      ) + keyLine(r['resume_client_random']!, r['resume_c2s_traffic_0']!, r['resume_s2c_traffic_0']!),
    );
    t.deepEqual(
      f['secsess.frame.type']!.filter((x) => x !== '0x17'),
      ['0x03', '0x04', '0x05', '0x04', '0x05', '0x06'],
    );
    t.deepEqual(f['secsess.hello.flags.tickets'], ['1', '1', '1']);
    t.deepEqual(records(f), [
      's2c 0 0x10 0',
      'c2s 0 0x11 0',
      's2c 1 0x0a 0',
      's2c 0 0x10 0',
      'c2s 0 0x11 0',
      's2c 1 0x0a 0',
      'c2s 1 0x01 0',
    ]);
    t.deepEqual(f['secsess.ticket.lifetime'], [r['lifetime'], r['lifetime']]);
    t.deepEqual(f['secsess.data.text'], ['hello again']);
    t.is(f['secsess.resume.binder']!.length, 2);
    t.is(f['secsess.finished.server_proof']!.length, 2);
    t.is(f['secsess.finished.server_proof']![1], r['resume_server_proof']);
  },
);

realTest(['tshark'])('a damaged record shows as not authentic; a plaintext Alert parses', async (t) => {
  const damaged = hex(DEFAULT['server_finished_record']!);
  damaged[30]! ^= 0x01; // a ciphertext byte: the tag no longer verifies
  const f = await dissect(
    t,
    [
      conversation(40000, [
        [true, hex(DEFAULT['client_hello']!)],
        [false, hex(DEFAULT['server_hello']!)],
        [false, damaged],
        [true, Buffer.from('150000020005', 'hex')], // the client's HandshakeFailed
      ]),
    ],
    keyLine(DEFAULT['client_random']!, DEFAULT['c2s_traffic_0']!, DEFAULT['s2c_traffic_0']!),
  );
  t.deepEqual(f['secsess.frame.type'], ['0x03', '0x04', '0x17', '0x15']);
  t.deepEqual(f['secsess.record.authentic'], ['0']);
  t.deepEqual(f['secsess.record.type'], []);
  t.deepEqual(f['secsess.alert.code'], ['0x0005']);
});

realTest(['tshark'])(
  'installed as README says (a personal plugins folder), it loads and decrypts',
  async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'secsess-home-'));
    t.teardown(() => rm(home, { recursive: true, force: true }));
    const plugins = join(home, '.local', 'lib', 'wireshark', 'plugins');
    await mkdir(plugins, { recursive: true });
    const tools = new URL('../../tools/wireshark/', import.meta.url).pathname;
    for (const file of await readdir(tools))
      if (file.endsWith('.lua')) await copyFile(join(tools, file), join(plugins, file));
    const d = DEFAULT;
    const pcap = join(home, 'capture.pcap');
    const keys = join(home, 'keys.log');
    const frames: [boolean, Buffer][] = [
      [true, hex(d['client_hello']!)],
      [false, Buffer.concat([hex(d['server_hello']!), hex(d['server_finished_record']!)])],
      [true, Buffer.concat([hex(d['client_finished_record']!), hex(d['c2s_data_record']!)])],
    ];
    // Whole segments: the heuristic reads the hello's first 9 bytes in the connection's first segment.
    await writeFile(pcap, tcpPcap([conversation(40000, frames, false)], PORT));
    await writeFile(keys, keyLine(d['client_random']!, d['c2s_traffic_0']!, d['s2c_traffic_0']!));
    // No -X and no -o: the plugin is found in HOME, the conversation by the heuristic, the key
    // log through SECSESS_KEYLOG_FILE.
    const env = { ...process.env, HOME: home, SECSESS_KEYLOG_FILE: keys };
    const { stdout } = await run(
      'tshark',
      ['-r', pcap, '-Y', 'secsess.data.text', '-T', 'fields', '-e', 'secsess.data.text'],
      {
        env,
        timeout: 120_000,
      },
    );
    t.is(stdout.trim(), 'hello, secsess');
  },
);

realTest(['tshark'])(
  'bytes that are not secsess frames on the port are marked, not waited for',
  async (t) => {
    // "GET " is type 0x47 (no frame type): without the check the dissector would wait for a
    // 5 MB "frame" until the capture ends.
    const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const f = await dissect(t, [conversation(40000, [[true, http]], false)], '');
    t.deepEqual(f['secsess.frame.type'], []);
    t.deepEqual(f['_ws.expert.message'], ['not a secsess frame header: type or length out of bounds']);
    // A Record frame with no body at all, and a truncated KeyRequest: marked, no Lua error.
    const short = await dissect(
      t,
      [
        conversation(
          40001,
          [
            [true, Buffer.from('010000027345', 'hex')],
            [false, Buffer.from('17000000', 'hex')],
          ],
          false,
        ),
      ],
      '',
    );
    t.deepEqual(short['secsess.frame.type'], ['0x01', '0x17']);
    t.deepEqual(short['_ws.expert.message'], ['frame body too short', 'record with an empty body']);
  },
);
