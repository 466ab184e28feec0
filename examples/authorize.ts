import { AuthorizedKeys, Client, KeyPair, Server } from '@secsess/sdk';

// Alice's key, and the server's list of client keys (`secsess-keygen authorize add` does this).
const alice = await KeyPair.generateRSA({ bits: 2048 });
await alice.save('secrets/alice', { format: 'openssh' }); // as ssh-keygen writes ~/.ssh/id_rsa
await AuthorizedKeys.add('secrets/authorized_keys', alice.publicKey, 'alice');

const client = Client.create('secrets/server.pub', {}, { clientKey: 'secrets/alice.key' }); // OpenSSH RSA keys work
const server = Server.create('127.0.0.1:0', 'secrets/server.key', undefined, {
  authorizedKeys: 'secrets/authorized_keys', // ssh-rsa lines (existing SSH keys work) and PEM keys
  authorize: async (peer) => peer.remoteAddress?.startsWith('127.') ?? false, // sync or async; throwing denies
});
process.on('SIGHUP', () => server.reloadAuthorizedKeys().catch((e) => console.error(e.code)));
await server.start();
server.on('session', async (session) => {
  console.log('client', session.clientKey?.fingerprint()); // alice's fingerprint
  await session.close();
});

const session = await client.connect(server.address!);
console.log(await session.read()); // null: the server closed normally
await server.stop();
