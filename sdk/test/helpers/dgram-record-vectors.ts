/**
 * Test vectors for PROTOCOL.md §D11 (datagram records): for every suite, fixed secrets →
 * epoch keys, exact Record packets, the move to epoch 1, a record of epoch 2 with a seq
 * above 2^32, a §D9 channel and §D9 "Keys from elsewhere".
 *
 *   node --import=tsx --conditions=source sdk/test/helpers/dgram-record-vectors.ts --write
 *   (part of npm run vectors)
 *
 * regenerates sdk/test/fixtures/dgram-record-vectors.json and the section of PROTOCOL.md
 * between its markers. sdk/test/dgram-record-vectors.test.ts checks both against a fresh
 * run and recomputes every value from PROTOCOL.md's formulas with node:crypto alone.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hkdf } from '../../src/protocol/crypto.js';
import { DatagramOutbound } from '../../src/protocol/datagram/contexts.js';
import { DatagramRecordType } from '../../src/protocol/datagram/constants.js';
import {
  channelSecrets,
  datagramTrafficSecrets,
  nextEpochSecret,
} from '../../src/protocol/datagram/key-schedule.js';
import { EpochKeys } from '../../src/protocol/datagram/record-codec.js';
import { ALL_SUITES } from '../../src/protocol/suite.js';
import type { Suite } from '../../src/protocol/suite.js';
import { seededRandom } from './vectors.js';
import type { Block, Vectors } from './vectors.js';
import { renderSection, replaceSection as replaceMarked } from './vector-sections.js';

export const DGRAM_RECORD_VECTORS_PATH = fileURLToPath(
  new URL('../fixtures/dgram-record-vectors.json', import.meta.url),
);
export const PROTOCOL_MD = fileURLToPath(new URL('../../../PROTOCOL.md', import.meta.url));
export const BEGIN = '<!-- dgram-record-vectors:begin -->';
export const END = '<!-- dgram-record-vectors:end -->';

/**
 * The seq of the epoch-2 record: 0x010203040506, whose six u48 bytes are all distinct and
 * non-zero, so the record pins the byte order of the whole field (above 2^32 too), which
 * seq 0 and 1 cannot.
 */
export const FAR_SEQ = 0x010203040506;

/** The payloads of the records each block shows, in the order they are sealed. */
export const RECORDS = [
  { name: 'record_e0_s0', epoch: 0, seq: 0, type: DatagramRecordType.Data, payload: 'hello, datagrams' },
  { name: 'record_e0_s1', epoch: 0, seq: 1, type: DatagramRecordType.Ping, payload: 'ping' },
  { name: 'record_e1_s0', epoch: 1, seq: 0, type: DatagramRecordType.Data, payload: 'after the move' },
  {
    name: `record_e2_s${FAR_SEQ}`,
    epoch: 2,
    seq: FAR_SEQ,
    type: DatagramRecordType.Data,
    payload: 'epoch 2, seq 0x010203040506',
  },
] as const;

export const dgramSuiteBlock = (s: Suite): string =>
  `datagram records, suite ${s.symmetric} / HMAC-${s.hash}`;

const hex = (b: Buffer): string => b.toString('hex');
const ids = (s: Suite): string => s.ids.map((i) => i.toString(16).padStart(2, '0')).join(' ');
const label = (s: string): Buffer => Buffer.from(s, 'ascii');

/** cipher_key, mac_key (CBC) or iv (GCM) of a traffic secret, with Part I's labels. */
function epochKeys(suite: Suite, secret: Buffer, n: number): Block {
  const out: Block = {};
  out[`cipher_key_${n}`] = hex(
    hkdf(suite.hashName, secret, Buffer.alloc(0), label('secsess v1 key'), suite.keyLength),
  );
  if (suite.mode === 'aead') {
    out[`iv_${n}`] = hex(hkdf(suite.hashName, secret, Buffer.alloc(0), label('secsess v1 iv'), 12));
  } else {
    out[`mac_key_${n}`] = hex(
      hkdf(suite.hashName, secret, Buffer.alloc(0), label('secsess v1 mac'), suite.hashLength),
    );
  }
  return out;
}

function suiteVectors(suite: Suite): Block {
  const T0 = seededRandom('secsess dgram vectors T_0')(suite.hashLength);
  const connectionId = seededRandom('secsess dgram vectors conn_id')(8);
  const block: Block = {
    suite: ids(suite),
    conn_id: hex(connectionId),
    T_0: hex(T0),
    ...epochKeys(suite, T0, 0),
  };
  const T1 = nextEpochSecret(suite, T0);
  const T2 = nextEpochSecret(suite, T1);
  const random = seededRandom(`secsess dgram vectors iv ${suite.symmetric} ${suite.hash}`);
  const outbound = new DatagramOutbound(T0, {
    set: { symmetric: suite.symmetric, hash: suite.hash },
    connectionId,
    rekeyAfterRecords: 2,
    random,
  });
  for (const r of RECORDS) {
    if (r.epoch === 1 && !('T_1' in block)) Object.assign(block, { T_1: hex(T1) }, epochKeys(suite, T1, 1));
    if (r.epoch === 2) {
      // The outbound cannot jump to a seq (and the public API should not let it), so epoch
      // 2's record is sealed by the record codec itself, under T_2's keys; CBC IVs continue
      // the same stream.
      Object.assign(block, { T_2: hex(T2) }, epochKeys(suite, T2, 2));
      const keys = new EpochKeys(suite, T2, true, random);
      block[r.name] = hex(keys.seal(connectionId, r.epoch, r.seq, r.type, Buffer.from(r.payload)));
      keys.destroy();
      continue;
    }
    block[r.name] = hex(outbound.seal(r.type, Buffer.from(r.payload)));
  }
  outbound.destroy();

  const exporter = seededRandom('secsess dgram vectors exporter')(suite.hashLength);
  const base = hkdf(
    suite.hashName,
    exporter,
    Buffer.alloc(0),
    label('secsess v1 dgram channel'),
    suite.hashLength,
  );
  const channel = channelSecrets(suite, exporter);
  Object.assign(block, {
    exporter: hex(exporter),
    channel_base: hex(base),
    channel_conn_id: hex(channel.connectionId),
    channel_c2s_0: hex(channel.c2s),
    channel_s2c_0: hex(channel.s2c),
  });
  const shared = seededRandom('secsess dgram vectors shared secret')(32);
  const fromShared = datagramTrafficSecrets(suite, shared);
  Object.assign(block, {
    shared_secret: hex(shared),
    shared_c2s_0: hex(fromShared.c2s),
    shared_s2c_0: hex(fromShared.s2c),
  });
  return block;
}

export function buildDgramRecordVectors(): Vectors {
  const out: Vectors = {};
  for (const suite of ALL_SUITES) out[dgramSuiteBlock(suite)] = suiteVectors(suite);
  return out;
}

export function readDgramRecordVectors(): Vectors | null {
  return existsSync(DGRAM_RECORD_VECTORS_PATH)
    ? (JSON.parse(readFileSync(DGRAM_RECORD_VECTORS_PATH, 'utf8')) as Vectors)
    : null;
}

/** The PROTOCOL.md section for a set of vectors, long hex folded at 64 characters. */
export function renderDgramRecordVectors(v: Vectors): string {
  return renderSection(BEGIN, END, v);
}

export function replaceDgramRecordSection(doc: string, section: string): string {
  return replaceMarked(doc, BEGIN, END, section);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const vectors = buildDgramRecordVectors();
  writeFileSync(DGRAM_RECORD_VECTORS_PATH, JSON.stringify(vectors, null, 2) + '\n');
  writeFileSync(
    PROTOCOL_MD,
    replaceDgramRecordSection(readFileSync(PROTOCOL_MD, 'utf8'), renderDgramRecordVectors(vectors)),
  );
  console.log(`wrote ${DGRAM_RECORD_VECTORS_PATH} and the datagram record vectors of PROTOCOL.md`);
}
