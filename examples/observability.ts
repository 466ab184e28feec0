import diagnostics from 'node:diagnostics_channel';
import { CHANNELS, Client, Server } from '@secsess/sdk';
import type { HandshakeContext, RefusedMessage, SessionCloseMessage } from '@secsess/sdk';

diagnostics.subscribe(CHANNELS.sessionClose, (message) => {
  const m = message as SessionCloseMessage;
  console.log(
    `${m.role}: ${m.remote} closed ${m.code} after ${Math.round(m.durationMs)} ms, ${m.bytesReceived} bytes in`,
  );
});
diagnostics.subscribe(CHANNELS.refused, (message) => {
  const m = message as RefusedMessage;
  console.log(`refused ${m.remote}: ${m.limit}`);
});
diagnostics.tracingChannel<unknown, HandshakeContext>(CHANNELS.handshake).subscribe({
  start() {},
  end() {},
  asyncStart() {},
  asyncEnd(c) {
    if (!c.error) console.log(`${c.role}: handshake with ${c.remote} done, suite ${c.suite}`);
  },
  error(c) {
    console.log(`${c.role}: handshake with ${c.remote} failed: ${(c.error as { code?: string }).code}`);
  },
});

const server = Server.create('127.0.0.1:0', 'secrets/server.key', undefined, { maxConnections: 1 });
server.on('session', async (session) => {
  for await (const message of session) await session.write(message);
});
await server.start();

const client = Client.create('secrets/server.pub');
const session = await client.connect(server.address!);
await session.write('ping');
await session.read();
// A second connection while the first is open: past maxConnections, refused before any RSA.
const second = Client.create('secrets/server.pub', {}, { busyRetries: 0 });
await second.connect(server.address!).catch((err) => console.log('second client:', err.code));
await session.close();

const metrics = server.metrics(); // plain data: sessions, handshakes, refusals, bytes, RSA, latency
console.log('opened', metrics.sessions.opened, 'refused', metrics.refused.maxConnections);
console.log(
  'handshake p(<=10 ms):',
  metrics.handshakeSeconds.counts[3],
  'of',
  metrics.handshakeSeconds.count,
);
await server.stop();
