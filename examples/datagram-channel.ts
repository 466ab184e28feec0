import { Client, DatagramServer, Server, openDatagramChannel } from '@secsess/sdk';

const tcp = Server.create('127.0.0.1:0', 'secrets/server.key');
const udp = DatagramServer.create('127.0.0.1:0', 'secrets/server.key');
await udp.start();
tcp.on('session', async (stream) => {
  const channel = udp.attach(stream); // no second handshake: keys from the stream session
  channel.on('message', (position) => {
    if (position.length <= channel.maxMessageSize) channel.send(position); // else it would throw
  });
  await stream.write(`datagrams on port ${udp.address!.port}`); // the reliable stream tells the client
});
await tcp.start();

const client = Client.create('secrets/server.pub');
const stream = await client.connect(tcp.address!);
console.log(String(await stream.read())); // datagrams on port …
const channel = await openDatagramChannel(stream, udp.address!); // one channel per stream session
const echo = new Promise<Buffer>((resolve) => channel.once('message', resolve));
const again = setInterval(() => channel.send('position 12,7'), 100); // a datagram may be lost
channel.send('position 12,7');
console.log(String(await echo), channel.serverKey?.fingerprint()); // position 12,7 SHA256:…
clearInterval(again);
channel.close();
await client.close(); // the channel would outlive the stream; both are closed here
await tcp.stop();
await udp.stop();
