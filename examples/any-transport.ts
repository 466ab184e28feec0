import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { secureDuplex } from '@secsess/sdk';

if (process.argv[2] !== 'child') {
  // The client: its transport is a child process's stdio (any Duplex works).
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const stdio = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const session = await secureDuplex(stdio, { role: 'client', serverKey: 'secrets/server.pub' });
  await session.write('over a pipe');
  console.log(String(await session.read())); // over a pipe
  await session.close();
} else {
  // The child: a server over its own stdin and stdout.
  const stdio = Duplex.from({ readable: process.stdin, writable: process.stdout });
  const session = await secureDuplex(stdio, { role: 'server', keys: 'secrets/server.key' });
  for await (const message of session) await session.write(message);
}
