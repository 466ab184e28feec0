/**
 * Datagram sessions end to end (issue 14): a real DatagramServer and DatagramClient over
 * UDP on 127.0.0.1 and ::1, through the hostile relay (helpers/udp-proxy.ts) that loses,
 * reorders, duplicates, delays and flips bits of record datagrams, with a seeded PRNG.
 * What the user relies on: every message that arrives is the one sent, arrives once, and
 * the session lives on; what the network destroys is counted, never delivered.
 * Replays, epochs and address changes: dgram-e2e-replay.test.ts.
 */
import test from 'ava';
import { faults } from './helpers/udp-proxy.js';
import { indexes, notRecord, rig, sendNumbered, settle, unique } from './helpers/dgram.js';
import { ipv6Available } from './helpers/net.js';

const N = 200;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const hasIPv6 = await ipv6Available();

for (const host of ['127.0.0.1', '::1']) {
  const maybe = host === '::1' && !hasIPv6 ? test.skip : test;

  maybe(`[${host}] loss: what arrives is intact and once; the losses are counted as gaps`, async (t) => {
    const tamper = faults({ loss: 0.2 }, 101, notRecord);
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N);
    await settle(r.proxy);
    const got = indexes(r.received);
    t.true(unique(got));
    t.true(got.length > 0 && got.length < N, `${got.length} of ${N} echoes`);
    t.true(tamper.log.c2s.lost > 0 && tamper.log.s2c.lost > 0);
    // Server: each c2s loss is a skipped seq; client: each s2c loss (echoes are its records).
    t.true(r.peer.counters.gaps > 0);
    t.true(r.client.counters.gaps > 0);
    t.is(r.client.counters.authFailures, 0);
    t.is(r.client.state, 'open');
    t.is(r.peer.state, 'open');
  });

  maybe(`[${host}] reordering: the window delivers every message once, in arrival order`, async (t) => {
    const tamper = faults({ reorder: 0.3 }, 102, notRecord);
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N);
    await settle(r.proxy);
    const got = indexes(r.received);
    t.deepEqual(
      [...got].sort((a, b) => a - b),
      range(N),
    );
    t.notDeepEqual(got, range(N), 'some echoes arrived out of order');
    t.true(tamper.log.s2c.reordered > 0);
    t.is(r.client.counters.duplicates, 0);
  });

  maybe(
    `[${host}] reordering with replay 'increasing': late messages are dropped, never delivered out of order`,
    async (t) => {
      const tamper = faults({ s2c: { reorder: 0.3 } }, 103, notRecord);
      const r = await rig(t, { host, tamper, client: { replay: 'increasing' } });
      await sendNumbered(r.client, 0, N);
      await settle(r.proxy);
      const got = indexes(r.received);
      t.true(
        got.every((x, i) => i === 0 || x > got[i - 1]!),
        'strictly increasing',
      );
      t.true(got.length < N);
      t.true(r.client.counters.tooOld > 0);
      t.is(r.echoed.length, N, 'the server (window mode) got every message');
    },
  );

  maybe(`[${host}] duplication: every message is delivered exactly once on both sides`, async (t) => {
    const tamper = faults({ duplicate: 0.5 }, 104, notRecord);
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N);
    await settle(r.proxy);
    t.deepEqual(
      indexes(r.echoed).sort((a, b) => a - b),
      range(N),
    );
    t.deepEqual(
      indexes(r.received).sort((a, b) => a - b),
      range(N),
    );
    t.true(r.peer.counters.duplicates > 0);
    t.true(r.client.counters.duplicates > 0);
    t.is(r.peer.counters.delivered, N);
  });

  maybe(`[${host}] delay: late datagrams within the window are delivered, once`, async (t) => {
    const tamper = faults({ delay: 0.7, maxDelay: 40 }, 105, notRecord);
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N);
    await settle(r.proxy, 30);
    t.deepEqual(
      indexes(r.received).sort((a, b) => a - b),
      range(N),
    );
    t.true(tamper.log.c2s.delayed > 0 && tamper.log.s2c.delayed > 0);
  });

  maybe(`[${host}] bit flips: a changed datagram is rejected and counted, never delivered`, async (t) => {
    const tamper = faults({ flip: 0.3 }, 106, notRecord);
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N);
    await settle(r.proxy);
    // indexes() throws if any delivered message differs from what was sent.
    const echoed = indexes(r.echoed);
    const got = indexes(r.received);
    t.true(unique(echoed) && unique(got));
    t.true(got.length < N && got.length > 0);
    const flipped = tamper.log.c2s.flipped;
    // A flip in the body or the seq fails authentication; one in the epoch is an 'epoch'
    // rejection; one in the conn_id or the type byte reaches no session at all.
    const counted = r.peer.counters.authFailures + r.peer.counters.staleEpoch;
    t.true(counted > 0 && counted <= flipped, `${counted} rejected of ${flipped} flipped`);
    // Every c2s datagram not flipped was delivered (flips also hit the ClientFinished or a Ping).
    t.true(r.echoed.length >= N - flipped && r.echoed.length < N, `${r.echoed.length} delivered`);
    t.true(r.client.counters.authFailures > 0);
    t.is(r.client.state, 'open');
  });

  maybe(`[${host}] everything at once, both ways: intact, unique, the session survives`, async (t) => {
    const tamper = faults(
      { loss: 0.1, reorder: 0.2, duplicate: 0.2, delay: 0.2, maxDelay: 20, flip: 0.1 },
      107,
      notRecord,
    );
    const r = await rig(t, { host, tamper });
    await sendNumbered(r.client, 0, N, 1000);
    await settle(r.proxy, 30);
    t.true(unique(indexes(r.echoed, 1000)));
    const got = indexes(r.received, 1000);
    t.true(unique(got) && got.length > N / 3);
    // And it still works: a clean relay from now on carries a message there and back.
    r.proxy.tamper = (d, link) => link.forward();
    const before = r.received.length;
    await sendNumbered(r.client, N, N + 1, 1000);
    await settle(r.proxy);
    t.is(r.received.length, before + 1);
    t.is(r.client.state, 'open');
  });
}

test('handshake datagrams lost or duplicated: the client retransmits and the session opens', async (t) => {
  // The handshake is the one thing the client retransmits (§D3): lose the first two of its
  // datagrams and duplicate everything the server answers.
  let c2s = 0;
  const r = await rig(t, {
    tamper: (d, link) => {
      if (d.direction === 'c2s' && d.data[0] !== 0x47 && c2s++ < 2) return;
      link.forward();
      if (d.direction === 's2c') link.forward();
    },
  });
  await sendNumbered(r.client, 0, 10);
  await settle(r.proxy);
  t.deepEqual(
    indexes(r.received).sort((a, b) => a - b),
    range(10),
  );
  t.true(r.proxy.of('c2s').filter((d) => d.data[0] !== 0x47).length > 2, 'the client sent again');
});
