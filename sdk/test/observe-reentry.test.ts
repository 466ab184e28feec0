/**
 * A `secsess:session:keyupdate` subscriber may use the session it is told about: the key
 * update is published once the core's call has returned, so a message written from the
 * callback never lands in a batch being sealed (and wiped) nor jumps ahead of the record
 * that moved the keys. Real TCP and UDP sessions on 127.0.0.1.
 */
import diagnostics from 'node:diagnostics_channel';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CHANNELS } from '../src/index.js';
import type { DatagramSession, KeyUpdateMessage } from '../src/index.js';
import { rig } from './helpers/dgram.js';
import { rekeyingSessions } from './helpers/rekeying-sessions.js';
import { waitUntil } from './helpers/net.js';

/** Subscribes `listener` to the keyupdate channel until the test ends. */
function onKeyUpdate(t: ExecutionContext, listener: (m: KeyUpdateMessage) => void): void {
  const wrapped = (m: unknown): void => listener(m as KeyUpdateMessage);
  diagnostics.subscribe(CHANNELS.keyUpdate, wrapped);
  t.teardown(() => diagnostics.unsubscribe(CHANNELS.keyUpdate, wrapped));
}

test.serial(
  'a stream keyupdate subscriber that writes: the peer receives exactly what was sent, in order',
  async (t) => {
    const [client, server] = await rekeyingSessions(t, 4);
    const sent: string[] = [];
    const writes: Promise<void>[] = [];
    const write = (text: string): void => {
      sent.push(text);
      writes.push(client.write(text));
    };
    let updates = 0;
    let ending = false;
    onKeyUpdate(t, (m) => {
      // The End record may move the keys too: no writing after it.
      if (m.session !== client || m.direction !== 'send' || ending) return;
      updates++;
      write(`rekeyed-${m.generation}`);
    });
    for (let i = 0; i < 10; i++) {
      write(`message-${i}`);
      await writes[writes.length - 1];
    }
    await waitUntil(() => updates >= 2, 'the client’s keys moved twice');
    await Promise.all(writes);
    ending = true;
    await client.end();
    const received: string[] = [];
    for await (const message of server) received.push(message.toString());
    t.deepEqual(received, sent);
    t.true(sent.includes('rekeyed-1'));
  },
);

test.serial(
  'a datagram keyupdate subscriber that sends: its message follows the record that moved the epoch',
  async (t) => {
    const epochs = { rekeyAfterRecords: 4, keepAliveInterval: 0 } as const;
    const { client, echoed } = await rig(t, { server: epochs, client: epochs, echo: false });
    const sent: string[] = [];
    const send = (session: DatagramSession, text: string): void => {
      sent.push(text);
      t.true(session.send(text));
    };
    let updates = 0;
    onKeyUpdate(t, (m) => {
      if (m.session !== client || m.direction !== 'send') return;
      updates++;
      send(client, `rekeyed-${m.generation}`);
    });
    for (let i = 0; i < 10; i++) {
      send(client, `message-${i}`);
      await waitUntil(() => echoed.length >= sent.length, `message ${i} arrived`);
    }
    await waitUntil(() => updates >= 2 && echoed.length === sent.length, 'every message arrived');
    t.deepEqual(
      echoed.map((m) => m.toString()),
      sent,
    );
  },
);
