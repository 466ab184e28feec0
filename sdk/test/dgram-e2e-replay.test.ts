/**
 * Datagram sessions end to end (issue 14), second part: replays of captured datagrams
 * (at once, within an epoch's grace, after the epoch has gone), address changes (a NAT
 * rebinding by the relay; a replay or a late datagram from elsewhere, which must not move
 * the session), and a session living through many epochs. Real DatagramServer and
 * DatagramClient over UDP on 127.0.0.1 and ::1, through helpers/udp-proxy.ts.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { DatagramRemote } from '../src/index.js';
import { RECORD, epochOf, indexes, rig, sendNumbered, settle, seqOf, waitUntil } from './helpers/dgram.js';
import type { Rig } from './helpers/dgram.js';
import { ipv6Available } from './helpers/net.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const hasIPv6 = await ipv6Available();

/** The captured record datagrams of a direction (the handshake's packets left out). */
const records = (r: Rig, direction: 'c2s' | 's2c'): Buffer[] =>
  r.proxy
    .of(direction)
    .map((d) => d.data)
    .filter((d) => d[0] === RECORD);

/** Sends `packet` to the server from a socket of its own: another source address/port. */
async function sendFromElsewhere(t: ExecutionContext, r: Rig, host: string, packet: Buffer): Promise<number> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  socket.bind(0, host);
  await once(socket, 'listening');
  socket.send(packet, r.server.address!.port, host);
  return socket.address().port;
}

for (const host of ['127.0.0.1', '::1']) {
  const maybe = host === '::1' && !hasIPv6 ? test.skip : test;

  maybe(`[${host}] a replay at once is a duplicate: counted, not delivered, both directions`, async (t) => {
    const r = await rig(t, { host });
    await sendNumbered(r.client, 0, 5);
    await settle(r.proxy);
    t.is(r.received.length, 5);
    // A clean link: nothing lost, so no gap is counted on either side.
    t.is(r.client.counters.gaps, 0);
    t.is(r.peer.counters.gaps, 0);
    const c2s = records(r, 'c2s');
    const s2c = records(r, 's2c').filter((p) => seqOf(p) > 0);
    const before = { peer: r.peer.counters.duplicates, client: r.client.counters.duplicates };
    for (const p of c2s) r.proxy.inject('c2s', p);
    for (const p of s2c) r.proxy.inject('s2c', p);
    await settle(r.proxy);
    t.is(r.peer.counters.duplicates - before.peer, c2s.length);
    t.is(r.client.counters.duplicates - before.client, s2c.length);
    t.is(r.echoed.length, 5, 'the server delivered nothing again');
    t.is(r.received.length, 5, 'the client delivered nothing again');
    t.is(r.peer.counters.authFailures, 0);
  });

  maybe(
    `[${host}] a replay after an epoch change: a duplicate within the grace, rejected once the epoch is gone`,
    async (t) => {
      // Each side moves to a new epoch every 4 records it sends.
      const limits = { rekeyAfterRecords: 4 };
      const r = await rig(t, { host, client: limits, server: limits });
      await sendNumbered(r.client, 0, 3); // c2s epoch 0: ClientFinished, seq 1..3
      await settle(r.proxy);
      const epoch0 = records(r, 'c2s').filter((p) => epochOf(p) === 0 && seqOf(p) > 0);
      t.is(epoch0.length, 3);
      await sendNumbered(r.client, 3, 5); // c2s epoch 1
      await settle(r.proxy);
      t.is(epochOf(records(r, 'c2s').at(-1)!), 1);
      // Epoch 0 is the previous epoch, kept for the grace: its own window says duplicate.
      const dup = r.peer.counters.duplicates;
      r.proxy.inject('c2s', epoch0[0]!);
      await settle(r.proxy);
      t.is(r.peer.counters.duplicates, dup + 1);
      await sendNumbered(r.client, 5, 12); // c2s epochs 1, 2: epoch 0's keys are gone
      await settle(r.proxy);
      t.true(epochOf(records(r, 'c2s').at(-1)!) >= 2);
      const stale = r.peer.counters.staleEpoch;
      for (const p of epoch0) r.proxy.inject('c2s', p);
      await settle(r.proxy);
      t.is(r.peer.counters.staleEpoch, stale + epoch0.length);
      // The same from the server: its epoch-0 echoes replayed to the client.
      const s2c0 = records(r, 's2c').filter((p) => epochOf(p) === 0);
      t.true(records(r, 's2c').some((p) => epochOf(p) >= 2));
      const clientStale = r.client.counters.staleEpoch;
      for (const p of s2c0) r.proxy.inject('s2c', p);
      await settle(r.proxy);
      t.is(r.client.counters.staleEpoch, clientStale + s2c0.length);
      t.deepEqual(sorted(indexes(r.echoed)), range(12), 'nothing delivered twice');
      t.deepEqual(sorted(indexes(r.received)), range(12));
    },
  );

  maybe(`[${host}] a replay of the previous epoch after its grace has run out does not open`, async (t) => {
    const r = await rig(t, { host, client: { rekeyAfterRecords: 4 }, server: { epochGrace: 50 } });
    await sendNumbered(r.client, 0, 5); // c2s: epoch 0 (CF, 1..3), epoch 1 (seq 0)
    await settle(r.proxy);
    const old = records(r, 'c2s').find((p) => epochOf(p) === 0 && seqOf(p) === 2)!;
    // Four times the grace: the server has dropped epoch 0's keys.
    await sleep(200);
    const stale = r.peer.counters.staleEpoch;
    r.proxy.inject('c2s', old);
    await settle(r.proxy);
    t.is(r.peer.counters.staleEpoch, stale + 1);
    t.is(r.echoed.length, 5);
  });

  maybe(
    `[${host}] NAT rebinding: the server follows the client's new port after an authenticated datagram`,
    async (t) => {
      const r = await rig(t, { host });
      await sendNumbered(r.client, 0, 5);
      await settle(r.proxy);
      const oldPort = r.peer.remotePort;
      t.is(oldPort, r.proxy.upstreamPort());
      const moved = new Promise<DatagramRemote>((resolve) => r.peer.once('addressChange', resolve));
      const newPort = await r.proxy.rebind();
      await sendNumbered(r.client, 5, 10);
      const remote = await moved;
      t.is(remote.port, newPort);
      await settle(r.proxy);
      t.is(r.peer.remotePort, newPort);
      // The echoes reach the client only through the new mapping: the old one is gone.
      t.deepEqual(sorted(indexes(r.received)), range(10));
      t.is(r.client.state, 'open');
    },
  );

  maybe(
    `[${host}] a replayed datagram from another address neither delivers nor moves the session`,
    async (t) => {
      const r = await rig(t, { host });
      await sendNumbered(r.client, 0, 3);
      await settle(r.proxy);
      let moves = 0;
      r.peer.on('addressChange', () => moves++);
      const port = r.peer.remotePort;
      const dup = r.peer.counters.duplicates;
      await sendFromElsewhere(t, r, host, records(r, 'c2s').at(-1)!);
      await waitUntil(() => r.peer.counters.duplicates === dup + 1, 'the replay to be counted');
      t.is(moves, 0);
      t.is(r.peer.remotePort, port);
      await sendNumbered(r.client, 3, 4);
      await settle(r.proxy);
      t.deepEqual(sorted(indexes(r.received)), range(4));
    },
  );

  maybe(
    `[${host}] a late (never seen) datagram from another address is delivered but does not move the session`,
    async (t) => {
      // The relay drops the client's third data record but keeps it: later it arrives from
      // elsewhere, fresh for the window but below its top (§D7: it must not move the session).
      let data = 0;
      const r = await rig(t, {
        host,
        tamper: (d, link) => {
          if (d.direction === 'c2s' && d.data[0] === RECORD && seqOf(d.data) > 0 && ++data === 3) return;
          link.forward();
        },
      });
      await sendNumbered(r.client, 0, 6);
      await settle(r.proxy);
      t.deepEqual(sorted(indexes(r.echoed)), [0, 1, 3, 4, 5]);
      let moves = 0;
      r.peer.on('addressChange', () => moves++);
      const port = r.peer.remotePort;
      const held = records(r, 'c2s').find((p) => seqOf(p) === 3)!;
      await sendFromElsewhere(t, r, host, held);
      await waitUntil(() => r.echoed.length === 6, 'the late message');
      t.deepEqual(sorted(indexes(r.echoed)), range(6));
      t.is(moves, 0);
      t.is(r.peer.remotePort, port);
      await settle(r.proxy);
      t.deepEqual(sorted(indexes(r.received)), range(6), 'its echo went to the old (right) address');
    },
  );

  maybe(`[${host}] a session lives through many epochs both ways (lowered rekey limits)`, async (t) => {
    const limits = { rekeyAfterRecords: 3, rekeyAfterBytes: 1000 };
    const r = await rig(t, { host, client: limits, server: limits });
    for (let i = 0; i < 60; i += 10) {
      await sendNumbered(r.client, i, i + 10, 200);
      await settle(r.proxy, 5);
    }
    await settle(r.proxy);
    t.deepEqual(sorted(indexes(r.echoed, 200)), range(60));
    t.deepEqual(sorted(indexes(r.received, 200)), range(60));
    t.true(epochOf(records(r, 'c2s').at(-1)!) >= 15);
    t.true(epochOf(records(r, 's2c').at(-1)!) >= 15);
    t.is(r.client.state, 'open');
    t.is(r.peer.state, 'open');
  });
}

test('a session moves to new epochs by time too (lowered rekey interval)', async (t) => {
  const r = await rig(t, { client: { rekeyInterval: 30 } });
  for (let i = 0; i < 5; i++) {
    await sendNumbered(r.client, i, i + 1);
    await sleep(60);
  }
  await settle(r.proxy);
  t.deepEqual(sorted(indexes(r.received)), range(5));
  const epochs = records(r, 'c2s').map(epochOf);
  t.true(epochs.at(-1)! >= 3, `epochs ${epochs.join(',')}`);
});
