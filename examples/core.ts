import { Buffer } from 'node:buffer';
import { MessageChannel } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import {
  ClientConnection,
  PrivateKey,
  PublicKey,
  ServerConnection,
  decryptPreSecret,
} from '@secsess/sdk/core';

// Any transport that carries bytes in order: here a MessagePort pair, not a Duplex.
const { port1: clientPort, port2: serverPort } = new MessageChannel();

// The vault holds the private key and decrypts on request: a worker, another process, an HSM.
const privateKey = await PrivateKey.load('secrets/server.key');
const vault = async (ciphertext: Buffer) => decryptPreSecret(privateKey, ciphertext);

const server: ServerConnection = new ServerConnection(
  {
    send: (bytes) => serverPort.postMessage(bytes),
    decryptSecret: ({ ciphertext }) => {
      void vault(ciphertext).then((secret) =>
        guard(server, serverPort, () => server.completeDecrypt(secret)),
      );
    },
    established: (info) => console.log('server: open,', info.clientKey ? 'client key' : 'no client key'),
    message: (data) => server.write(data), // an echo
    peerClosed: (code) => console.log('server: closed', code),
  },
  { keys: [privateKey.publicKey] }, // only the public key here: the private one is in the vault
);

const client: ClientConnection = new ClientConnection(
  {
    send: (bytes) => clientPort.postMessage(bytes),
    established: (info) => client.write(Buffer.from(`hello over ${info.suite.symmetric}`)),
    message: (data) => {
      console.log('client:', String(data)); // client: hello over AES-256-CBC
      client.close();
    },
    peerClosed: (code) => {
      console.log('client: closed', code); // client: closed 1000
      clientPort.close();
    },
  },
  { serverKey: await PublicKey.load('secrets/server.pub') },
);

// Received bytes go to receive(); a thrown error ends that connection with its alert.
function guard(conn: ClientConnection | ServerConnection, port: MessagePort, step: () => void): void {
  try {
    step();
  } catch (err) {
    conn.fail(err); // hands the alert to send()
    console.error('failed:', (err as { code?: string }).code);
    port.close();
  }
}
serverPort.on('message', (bytes: Uint8Array) =>
  guard(server, serverPort, () => server.receive(Buffer.from(bytes))),
);
clientPort.on('message', (bytes: Uint8Array) =>
  guard(client, clientPort, () => client.receive(Buffer.from(bytes))),
);
client.start();
