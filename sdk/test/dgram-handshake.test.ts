/**
 * The datagram handshake (PROTOCOL.md §D3) end to end in memory, and the client's receiver
 * rules: tokens, cookies, KeyResponse, ServerHello proof, alerts, retransmission schedule.
 */
import test from 'ava';
import { Buffer } from 'node:buffer';
import { fixturePrivateKey, fixturePublicKey } from './helpers/protocol-pair.js';
import { exchange, serverKey } from './helpers/dgram-handshake.js';
import { ALL_SUITES } from '../src/protocol/suite.js';
import { DatagramRecordType } from '../src/protocol/datagram/constants.js';

test('a full handshake with a known server key opens both sides; Data flows both ways', (t) => {
  const x = exchange({ serverKey: fixturePublicKey('server-2048') });
  t.deepEqual(x.clientResult.connectionId, x.serverResult.connectionId);
  t.is(x.clientResult.info.clientKey, null);
  t.is(x.serverResult.info.clientKey, null);
  t.true(x.clientResult.info.serverKey.equals(fixturePublicKey('server-2048')));
  const done = x.clientResult.inbound.open(x.handshakeDone);
  t.true(done.ok && done.type === DatagramRecordType.HandshakeDone);
  const up = x.serverResult.inbound.open(
    x.clientResult.outbound.seal(DatagramRecordType.Data, Buffer.from('up')),
  );
  t.true(up.ok && up.payload.toString() === 'up' && up.seq === 1);
  const down = x.clientResult.inbound.open(
    x.serverResult.outbound.seal(DatagramRecordType.Data, Buffer.from('down')),
  );
  t.true(down.ok && down.payload.toString() === 'down' && down.seq === 2);
});
