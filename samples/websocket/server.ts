/**
 * A secsess echo server over WebSocket (the `ws` package), on the sans-IO core of
 * `@secsess/sdk/core`: greets each client, then echoes every message until the client
 * closes. The private key lives in a worker thread (vault.ts), asked through the core's
 * `decryptSecret` plug; the connections hold only the public key. A client that breaks the protocol or tampers with a record loses its own session
 * (its WebSocket is closed after the alert) and nobody else's.
 *
 *   node samples/dist/websocket/server.js --key FILE [--host 127.0.0.1] [--port 0]
 *
 * stdout: `listening on ws://HOST:PORT`, `fingerprint SHA256:…`, then one line per session
 * event (`open N`, `closed N CODE`, `failed N ERR_…`). Stops on SIGINT or SIGTERM (exit 0);
 * exit 1 on a runtime failure, 2 on bad arguments.
 */
import { once } from 'node:events';
import { WebSocketServer } from 'ws';
import { PrivateKey } from '@secsess/sdk/core';
import { SecureWebSocket } from './secure-websocket.js';
import { Vault } from './vault.js';
import { sampleArgs } from '../sample-args.js';

const USAGE = `usage: server --key FILE [--host HOST] [--port PORT]

A secsess echo server over WebSocket messages (the sans-IO core, @secsess/sdk/core).
  --key FILE    the server's private key (secsess-keygen generate)
  --host HOST   address to listen on (default 127.0.0.1)
  --port PORT   port to listen on (default 0: a free port, printed)
  --help        this text`;

async function main(): Promise<number> {
  const values = sampleArgs(
    {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      key: { type: 'string' },
    },
    { usage: USAGE, help: USAGE },
    { required: ['key'], numeric: ['port'] },
  );
  if (typeof values === 'number') return values;
  const key = await PrivateKey.load(values.key);
  const vault = new Vault(key);
  const wss = new WebSocketServer({ host: values.host, port: Number(values.port), maxPayload: 1 << 20 });
  await once(wss, 'listening');
  const address = wss.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no port');
  console.log(`listening on ws://${values.host}:${address.port}`);
  console.log(`fingerprint ${key.fingerprint()}`);

  let next = 0;
  wss.on('connection', (ws) => {
    const id = ++next;
    // The connections hold only the public key; the vault's thread decrypts.
    const session = new SecureWebSocket(ws, {
      role: 'server',
      connection: { keys: [key.publicKey] },
      decrypt: (request) => vault.decrypt(request),
    });
    session.on('open', () => {
      console.log(`open ${id}`);
      session.send(`welcome, session ${id}`);
    });
    session.on('message', (data) => session.send(data));
    session.on('error', (err) => console.log(`failed ${id} ${err.code}`));
    session.on('close', (code) => {
      if (code !== 1006) console.log(`closed ${id} ${code}`);
    });
  });

  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  console.error(`server: ${signal}, stopping`);
  for (const ws of wss.clients) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  await vault.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, message } = err as { code?: string; message?: string };
    console.error(`server: ${code ?? 'error'}: ${message ?? String(err)}`);
    process.exitCode = 1;
  },
);
