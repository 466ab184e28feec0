import { DatagramClient, DatagramServer } from '@secsess/sdk';

const server = DatagramServer.create('127.0.0.1:0', 'secrets/server.key'); // UDP; '[::1]:0' for IPv6
server.on('session', (session) => {
  session.on('message', (reading) => {
    // An echo: one datagram back. A peer may allow itself larger messages than we can send.
    if (reading.length <= session.maxMessageSize) session.send(reading);
  });
});
await server.start();

const client = DatagramClient.create('secrets/server.pub'); // trust options as Client's
const session = await client.connect(server.address!); // handshake: cookie, RSA, X25519
console.log(session.maxMessageSize); // 1118: the largest message one 1200-byte datagram carries
let echoes = 0;
session.on('message', () => echoes++);
for (let i = 0; i < 100; i++) session.send(`reading ${i}`); // false if dropped: queue full
await new Promise((resolve) => setTimeout(resolve, 200)); // no acknowledgements: wait a moment
const { delivered, duplicates, authFailures } = session.counters;
console.log(echoes, delivered, duplicates, authFailures); // 100 100 0 0 (or fewer echoes: lost)
session.close(); // one Close record; the peer may never see it (then its idle timeout ends it)
await server.stop();
