/**
 * The key log hook of the sans-IO core (`keyLog` in the connection options, PROTOCOL.md
 * "Key log format"), in memory: both roles hand out the same two secrets under the hello's
 * client_random, once, and a reader following KeyUpdate (`next T`) from them opens every
 * record of a session whose keys were updated many times.
 */
import test from 'ava';
import { ALL_SUITES } from '../src/protocol/index.js';
import type { KeyLog } from '../src/protocol/key-log.js';
import { clientRandom, frames, helloSuite, openStream } from './helpers/keylog-reader.js';
import { openPair } from './helpers/protocol-pair.js';

/** A `keyLog` that keeps its lines (hex, copied at once as the writer does). */
function recorder(): { keyLog: KeyLog; lines: string[][] } {
  const lines: string[][] = [];
  return {
    lines,
    keyLog: (label, random, secret) => lines.push([label, random.toString('hex'), secret.toString('hex')]),
  };
}

for (const suite of ALL_SUITES) {
  test(`${suite.symmetric}/${suite.hash}: both roles log the same secrets, and a reader follows the key updates each way`, (t) => {
    const client = recorder();
    const server = recorder();
    // Three records per key, then a KeyUpdate (sealed under it): one every three messages.
    const keyBudget = { records: 3, bytes: 2 ** 32 };
    const set = { symmetric: suite.symmetric, hash: suite.hash };
    const p = openPair({ set, keyBudget, keyLog: client.keyLog }, { keyBudget, keyLog: server.keyLog });
    for (let i = 0; i < 20; i++) {
      p.client.write(Buffer.from(`c2s ${i}`));
      p.server.write(Buffer.from(`s2c ${i}`));
    }
    p.client.close(1000, 'done');
    t.deepEqual(p.errors, []);
    t.is(p.s.messages.length, 20);
    t.deepEqual(server.lines, client.lines);
    const hello = frames(p.c.sent).find((f) => f.type === 0x03)!.frame;
    t.deepEqual(
      client.lines.map(([label, random]) => [label, random]),
      [
        ['SECSESS_C2S_TRAFFIC_SECRET_0', clientRandom(hello)],
        ['SECSESS_S2C_TRAFFIC_SECRET_0', clientRandom(hello)],
      ],
    );
    const reader = helloSuite(hello);
    for (const [direction, sent, secret] of [
      ['c2s', p.c.sent, client.lines[0]![2]!],
      ['s2c', p.s.sent, client.lines[1]![2]!],
    ] as const) {
      const records = openStream(reader, secret, [...sent]);
      t.true(records.filter((r) => r.type === 0x07).length >= 5, `${direction}: key updates`);
      const data = records.filter((r) => r.type === 0x01).map((r) => r.payload.toString());
      t.deepEqual(
        data,
        Array.from({ length: 20 }, (_, i) => `${direction} ${i}`),
      );
    }
  });
}
