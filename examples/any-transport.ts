import { spawn } from 'node:child_process';
import { secureDuplex } from '@secsess/sdk';

if (process.argv[2] !== 'child') {
  // The client: its transport is a child process's stdout and stdin.
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'child'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const session = await secureDuplex(
    { readable: child.stdout, writable: child.stdin },
    { role: 'client', serverKey: 'secrets/server.pub' },
  );
  await session.write('over a pipe');
  console.log(String(await session.read())); // over a pipe
  await session.close();
} else {
  // The child: a server over its own stdin and stdout.
  const stdio = { readable: process.stdin, writable: process.stdout };
  const session = await secureDuplex(stdio, { role: 'server', keys: 'secrets/server.key' });
  for await (const message of session) await session.write(message);
  await session.close(); // the client is done; so are we
}
