/**
 * The Wireshark dissector (tools/wireshark/secsess.lua) on real captures: a secsess session
 * over loopback TCP, captured by dumpcap (as root) with SECSESS_KEYLOG_FILE set in the peers,
 * is read back by tshark with the key log (every record decrypted: types, seqs, messages,
 * the Close's code and reason; a second, resumed session too) and without it (handshake
 * parsed, records encrypted). One capture per suite: the default AES-256-CBC/SHA-256,
 * AES-256-GCM, AES-128-CBC/SHA-384 and ChaCha20-Poly1305. Needs tshark and dumpcap (CI=true:
 * missing ones fail) and root for the capture (elsewhere the tests are skipped with a note).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { promisify } from 'node:util';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { KeyPair } from '@secsess/keys';
import { Client, Hash, Server, Symmetric, TicketStore } from '@secsess/sdk';
import type { AlgorithmSet, Session } from '@secsess/sdk';
import { captureFiles, startCapture, waitForPackets } from './helpers/capture.js';
import { IN_CI } from './helpers/programs.js';
import { realTest } from './helpers/real-test.js';

const run = promisify(execFile);
const DISSECTOR = new URL('../../tools/wireshark/secsess.lua', import.meta.url).pathname;

const BIG = Buffer.alloc(70_000, 'wireshark fragments ');
const CLIENT_TEXTS = ['hello, wireshark', 'batch one', 'batch two'];
const SERVER_TEXTS = ['hello from the server'];

/** The session the capture holds: messages each way (one fragmented, two batched), then Close 4001. */
async function converse(client: Session, server: Session): Promise<void> {
  await client.write(CLIENT_TEXTS[0]!);
  await server.read();
  await server.write(SERVER_TEXTS[0]!);
  await client.read();
  await client.write(BIG);
  await server.read();
  // Two writes in one turn are sealed into one DataBatch record.
  const both = Promise.all([client.write(CLIENT_TEXTS[1]!), client.write(CLIENT_TEXTS[2]!)]);
  await both;
  await server.read();
  await server.read();
  await client.close(4001, 'done here');
  await server.closed.catch(() => {});
}

const root = typeof process.getuid === 'function' && process.getuid() === 0;

/** A capture of two sessions with `suite` (a full one, then a resumed one) and its key log. */
async function capture(
  t: ExecutionContext,
  suite: AlgorithmSet,
): Promise<{ pcap: string; keylog: string; port: number }> {
  const { pcap, keylog } = await captureFiles(t, 'secsess-wireshark-');
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const server = Server.create('127.0.0.1:0', pair.privateKey, suite, {
    workers: 0,
    tickets: { keys: [randomBytes(32)] },
  });
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  const recording = await startCapture(t, pcap, `tcp port ${port}`);
  const client = Client.create(pair.publicKey, suite, { resumption: new TicketStore() });
  for (let i = 0; i < 2; i++) {
    const accepted = new Promise<Session>((resolve) => server.once('session', resolve));
    const session = await client.connect(`127.0.0.1:${port}`);
    t.is(session.resumed, i === 1);
    await converse(session, await accepted);
  }
  // dumpcap writes packets as it reads them: wait until both sessions' four FINs are in the file.
  await waitForPackets(pcap, 'tcp.flags.fin == 1', 4);
  await recording.stop();
  return { pcap, keylog, port };
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
  'secsess.close.code',
  'secsess.close.reason',
  'secsess.hello.client_random',
  'secsess.hello.suite.symmetric',
  'secsess.hello.suite.hash',
  'secsess.record.encrypted',
  '_ws.expert.message',
];

interface Row {
  readonly [field: string]: string[];
}

/**
 * How tshark finds the conversation and the key log: the port preference, `-d` (Decode As) or
 * the heuristic; the key log preference or the environment variable.
 */
interface How {
  readonly port?: number;
  readonly decodeAs?: number;
  readonly keylog?: string;
  readonly keylogEnv?: string;
  readonly extra?: readonly string[];
}

/** tshark's fields for every secsess frame, each field split into its occurrences. */
async function dissect(pcap: string, how: How): Promise<Row[]> {
  const env = { ...process.env };
  delete env['SECSESS_KEYLOG_FILE'];
  if (how.keylogEnv !== undefined) env['SECSESS_KEYLOG_FILE'] = how.keylogEnv;
  const args = ['-r', pcap, '-X', `lua_script:${DISSECTOR}`, ...(how.extra ?? [])];
  if (how.port !== undefined) args.push('-o', `secsess.tcp_port:${how.port}`);
  if (how.decodeAs !== undefined) args.push('-d', `tcp.port==${how.decodeAs},secsess`);
  if (how.keylog !== undefined) args.push('-o', `secsess.keylog_file:${how.keylog}`);
  args.push('-Y', 'secsess', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|');
  for (const f of FIELDS) args.push('-e', f);
  const { stdout, stderr } = await run('tshark', args, {
    env,
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (/Lua: Error|lua_error/i.test(stderr)) throw new Error(`tshark: ${stderr}`);
  const rows = stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const cells = line.split('\t');
      const row: Record<string, string[]> = {};
      FIELDS.forEach((f, i) => (row[f] = cells[i] ? cells[i]!.split('|') : []));
      return row;
    });
  const luaErrors = rows.flatMap((r) => r['_ws.expert.message']!).filter((m) => m.startsWith('Lua Error'));
  if (luaErrors.length > 0) throw new Error(`tshark: ${luaErrors.join('; ')}`);
  return rows;
}

/** Every decrypted record, in capture order: stream, direction, seq, type. */
function records(rows: Row[]): { stream: string; dir: string; seq: number; type: string }[] {
  const out: { stream: string; dir: string; seq: number; type: string }[] = [];
  for (const row of rows) {
    const types = row['secsess.record.type']!;
    types.forEach((type, i) =>
      out.push({
        stream: row['tcp.stream']![0]!,
        dir: row['secsess.record.direction']![i]!,
        seq: Number(row['secsess.record.seq']![i]),
        type,
      }),
    );
  }
  return out;
}

const all = (rows: Row[], field: string): string[] => rows.flatMap((r) => r[field]!);

const SUITES: [string, AlgorithmSet, string, string][] = [
  ['the default suite (AES-256-CBC, SHA-256)', {}, '0x02', '0x01'],
  ['AES-256-GCM', { symmetric: Symmetric.AES256GCM }, '0x03', '0x01'],
  ['AES-128-CBC with SHA-384', { symmetric: Symmetric.AES128, hash: Hash.SHA384 }, '0x01', '0x02'],
  ['ChaCha20-Poly1305', { symmetric: Symmetric.CHACHA20POLY1305 }, '0x04', '0x01'],
];

for (const [name, suite, symId, hashId] of SUITES) {
  const title = `tshark with the dissector decrypts a captured session, ${name}`;
  if (!root && !IN_CI) {
    test.skip(`${title} [skipped: capturing on lo needs root]`, () => {});
    continue;
  }
  realTest(['tshark', 'dumpcap'], true)(title, async (t) => {
    const { pcap, keylog, port } = await capture(t, suite);
    const rows = await dissect(pcap, { port, keylog });
    t.deepEqual(all(rows, 'secsess.hello.suite.symmetric'), [symId, symId, symId, symId]);
    t.deepEqual(all(rows, 'secsess.hello.suite.hash'), [hashId, hashId, hashId, hashId]);
    t.is(all(rows, 'secsess.record.encrypted').length, records(rows).length, 'every record decrypted');
    // Handshake frames: ClientHello, ServerHello, then the resumed session's ResumeHello, ServerHello.
    t.deepEqual(
      all(rows, 'secsess.frame.type').filter((x) => x !== '0x17'),
      ['0x03', '0x04', '0x05', '0x04'],
    );
    for (const stream of ['0', '1']) {
      const recs = records(rows).filter((r) => r.stream === stream);
      const c2s = recs.filter((r) => r.dir === 'c2s');
      const s2c = recs.filter((r) => r.dir === 's2c');
      t.deepEqual(
        c2s.map((r) => r.seq),
        c2s.map((_, i) => i),
      );
      t.deepEqual(
        s2c.map((r) => r.seq),
        s2c.map((_, i) => i),
      );
      // ClientFinished, Data, DataMore, Data (the fragmented message's end), DataBatch, Close.
      t.deepEqual(
        c2s.map((r) => r.type),
        ['0x11', '0x01', '0x02', '0x01', '0x03', '0x04'],
        `stream ${stream} c2s`,
      );
      // ServerFinished, NewTicket, Data, Close (the answer).
      t.deepEqual(
        s2c.map((r) => r.type),
        ['0x10', '0x0a', '0x01', '0x04'],
        `stream ${stream} s2c`,
      );
    }
    const texts = all(rows, 'secsess.data.text');
    for (const text of [...CLIENT_TEXTS, ...SERVER_TEXTS])
      t.is(texts.filter((x) => x === text).length, 2, text);
    t.deepEqual(all(rows, 'secsess.message'), [BIG.toString('hex'), BIG.toString('hex')]);
    t.deepEqual(all(rows, 'secsess.close.code'), ['4001', '1000', '4001', '1000']);
    // The answers' empty reasons are empty cells in tshark's fields output.
    t.deepEqual(all(rows, 'secsess.close.reason'), ['done here', 'done here']);

    // A second pass (-2) shows the same as the first: results are kept per frame.
    t.deepEqual(await dissect(pcap, { port, keylog, extra: ['-2'] }), rows);
    // The same found by Decode As (-d) with the key log from the environment, and by the
    // heuristic alone (no port given).
    t.deepEqual(await dissect(pcap, { decodeAs: port, keylogEnv: keylog }), rows);
    t.deepEqual(await dissect(pcap, { keylog }), rows);

    // Without the key log: the handshake parses, every record stays encrypted.
    const plain = await dissect(pcap, { port });
    t.is(all(plain, 'secsess.hello.client_random').length, 2);
    t.is(records(plain).length, 0);
    t.deepEqual(all(plain, 'secsess.data.text'), []);
    t.is(all(plain, 'secsess.record.encrypted').length, all(rows, 'secsess.record.encrypted').length);
  });
}
