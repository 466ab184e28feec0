import { Client, KeyPair, Server } from '@secsess/sdk';

await (await KeyPair.generateRSA({ bits: 2048 })).save('secrets/ops', { force: true });

// Under systemd socket activation (a .socket unit with ListenStream=), the listening socket
// arrives as fd 3; started by hand, the server binds its own.
const activated = process.env.LISTEN_PID === String(process.pid) && process.env.LISTEN_FDS === '1';
const server = Server.create(activated ? { fd: 3 } : '127.0.0.1:0', 'secrets/ops.key');
server.on('session', async (session) => {
  for await (const message of session) await session.write(message);
  await session.close(); // null: the client is done sending (it ended or closed); so are we
});
// Signal listeners go in before start(): it starts the RSA worker threads, and on Node 20 a
// signal listener first added after a worker thread started is not always called.
// SIGHUP: read the key file again; open sessions and handshakes under way keep the old key.
process.on('SIGHUP', () => {
  server.reloadKeys().then(
    (fingerprints) => console.log('keys now', fingerprints.join(', ')),
    (err) => console.error('reload failed, the keys in force stay:', err.code),
  );
});
// SIGTERM: stop listening, give open sessions 30 s to end; a second SIGTERM ends the wait.
process.on('SIGTERM', () => void server.stop(server.draining ? {} : { drain: 30_000 }));
await server.start();

const session = await Client.create('secrets/ops.pub').connect(server.address!);
const next = await KeyPair.generateRSA({ bits: 2048 });
await next.save('secrets/ops', { force: true }); // a new key on disk, then SIGHUP:
console.log(await server.reloadKeys()); // [ 'SHA256:…' ]: the new key's, for new clients
await session.write('still open');
console.log(String(await session.read())); // still open: the session began before the reload
const stopped = server.stop({ drain: 30_000 }); // as SIGTERM: no new connections from here
console.log(server.draining); // true, until the last session ends or the 30 s are over
await session.end(); // the client is done; the server's handler reads null and closes
await stopped; // resolved as soon as the session closed
