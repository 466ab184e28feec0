import { connect, createServer } from 'node:net';
import { Client, encodeProxyHeader, Server } from '@secsess/sdk';

// A fleet member: connections from the load balancer (and only from it) begin with a PROXY
// header naming the real client, which authorize, the limits, events and logs then see.
const server = Server.create('127.0.0.1:0', 'secrets/server.key', undefined, {
  proxyProtocol: { trusted: ['127.0.0.1'] }, // the balancer's addresses or CIDRs: ['10.0.0.5', '10.1.0.0/16']
  authorize: (peer) => peer.remoteAddress !== undefined, // peer.remoteAddress: the client's, not the balancer's
});
await server.start();
server.on('session', async (session) => {
  await session.write(`you are ${session.remoteAddress}:${session.remotePort}`);
  await session.close();
});

// A stand-in for HAProxy's `send-proxy-v2`: each connection's client address goes first.
const balancer = createServer((downstream) => {
  const upstream = connect(server.address!.port, '127.0.0.1');
  const client = { address: downstream.remoteAddress!, port: downstream.remotePort! };
  const front = { address: downstream.localAddress!, port: downstream.localPort! };
  upstream.write(encodeProxyHeader(client, front));
  downstream.pipe(upstream).pipe(downstream);
  downstream.on('error', () => upstream.destroy());
  upstream.on('error', () => downstream.destroy());
});
balancer.listen(0, '127.0.0.1');
await new Promise((resolve) => balancer.once('listening', resolve));

const client = Client.create('secrets/server.pub');
const session = await client.connect({
  host: '127.0.0.1',
  port: (balancer.address() as { port: number }).port,
});
console.log(String(await session.read()), 'from', session.localPort); // the same port: the server saw us
await session.closed;
balancer.close();
await server.stop();
