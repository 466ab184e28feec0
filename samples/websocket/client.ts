/**
 * A secsess client over WebSocket (the `ws` package), on the sans-IO core of
 * `@secsess/sdk/core`: reads the server's greeting, sends `--rounds` messages and checks each
 * echo, then closes with an authenticated close.
 *
 *   node samples/dist/websocket/client.js --url ws://127.0.0.1:PORT --pub FILE [--rounds 10]
 *
 * stdout: the greeting, `round trips: N, all echoes intact`, `closed CODE`. Exit 0 on
 * success, 1 on a failure (its error code on stderr), 2 on bad arguments.
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { PublicKey } from '@secsess/sdk/core';
import { SecureWebSocket } from './secure-websocket.js';
import { sampleArgs } from '../sample-args.js';

const USAGE = `usage: client --url ws://HOST:PORT --pub FILE [--rounds N]

A secsess client over WebSocket messages (the sans-IO core, @secsess/sdk/core).
  --url URL     the sample server's address, as it prints it
  --pub FILE    the server's public key (its fingerprint is checked by the handshake)
  --rounds N    messages to send and check (default 10)
  --help        this text`;

async function main(): Promise<number> {
  const values = sampleArgs(
    { url: { type: 'string' }, pub: { type: 'string' }, rounds: { type: 'string', default: '10' } },
    { usage: USAGE, help: USAGE },
    { required: ['url', 'pub'], numeric: ['rounds'] },
  );
  if (typeof values === 'number') return values;
  const serverKey = await PublicKey.load(values.pub);
  const ws = new WebSocket(values.url, { maxPayload: 1 << 20 });
  await once(ws, 'open');
  const session = new SecureWebSocket(ws, { role: 'client', connection: { serverKey } });
  const inbox: Buffer[] = [];
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  let closeCode: number | null = null;
  session.on('message', (data) => {
    inbox.push(data);
    wake?.();
  });
  session.on('error', (err) => (failure = err));
  session.on('close', (code) => {
    closeCode = code;
    wake?.();
  });
  /** The next message, or throws the session's error if it ended first. */
  const next = async (): Promise<Buffer> => {
    while (inbox.length === 0) {
      if (closeCode !== null) throw failure ?? new Error(`closed ${closeCode} before a reply`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return inbox.shift()!;
  };

  console.log(String(await next()));
  const rounds = Number(values.rounds);
  for (let i = 0; i < rounds; i++) {
    const message = `message ${i} ${'x'.repeat(i * 97)}`;
    session.send(message);
    if (String(await next()) !== message) throw new Error(`echo ${i} differs`);
  }
  console.log(`round trips: ${rounds}, all echoes intact`);
  session.close();
  while (closeCode === null) await new Promise<void>((resolve) => (wake = resolve));
  if (failure) throw failure;
  console.log(`closed ${closeCode}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, message } = err as { code?: string; message?: string };
    console.error(`client: ${code ?? 'error'}: ${message ?? String(err)}`);
    process.exitCode = 1;
  },
);
