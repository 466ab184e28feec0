/**
 * The `node-relay` floor of the tunnel bench (bench/tunnel-peers.ts): one Node process
 * relaying plain TCP both ways with the `secsess` command's own buffer discipline and no
 * crypto, no framing — reads into the thread's shared read buffer (the sdk's `borrowReads`,
 * `connectBorrowing`, `readBorrowed`), each chunk copied into a reused 64 KiB buffer that
 * comes back at its write's callback (where secsess seals into one), backpressure by
 * pause/resume, each end's FIN passed on. argv: the port to listen on, the target port.
 */
import { Buffer } from 'node:buffer';
import { createServer } from 'node:net';
import { borrowReads, connectBorrowing, readBorrowed } from '../sdk/dist/index.js';

const [port, target] = process.argv.slice(2).map(Number);
/** The shared read buffer's size: no chunk is larger. */
const SIZE = 65536;
const free = [];

function relay(from, to) {
  readBorrowed(from, (chunk) => {
    const buf = free.pop() ?? Buffer.allocUnsafeSlow(SIZE);
    chunk.copy(buf);
    const room = to.write(buf.subarray(0, chunk.length), (err) => {
      if (!err && free.length < 32) free.push(buf);
    });
    if (!room) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
  from.on('error', () => to.destroy());
}

createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (client) => {
  borrowReads(client);
  const upstream = connectBorrowing({ host: '127.0.0.1', port: target, noDelay: true, allowHalfOpen: true });
  relay(client, upstream);
  relay(upstream, client);
  client.resume();
}).listen(port, '127.0.0.1');
