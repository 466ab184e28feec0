import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Client, Server } from '@secsess/sdk';

await using server = Server.create('127.0.0.1:0', 'secrets/server.key'); // stopped at the end of the scope
server.on('session', async (session) => {
  for await (const message of session) await session.write(message); // echo, until the client's end()
  await session.end(); // then end ours: both halves ended, the session closes (1000)
});
await server.start();

await using session = await Client.create('secrets/server.pub').connect(server.address!); // closed at scope end
session
  .on('error', (e) => console.error(e.code))
  .on('close', (code, reason) => console.log('closed', code, reason));
await session.write('hello');
const msg = await session.read({ signal: AbortSignal.timeout(5000) }); // ERR_ABORTED after 5 s
console.log(String(msg)); // hello

// The Duplex byte view: a file through the echo server and back.
await writeFile('big.log', 'line\n'.repeat(100_000));
const bytes = session.stream();
const echoed = new Promise<number>((resolve) => {
  let n = 0;
  bytes.on('data', (chunk: Buffer) => (n += chunk.length) === 500_000 && resolve(n));
});
await pipeline(createReadStream('big.log'), bytes); // its end ends our half (session.end()): echoes still come
console.log(await echoed); // 500000
await session.closed; // the server ended too: closed 1000
