/**
 * The `secsess` bin with real programs at both ends of a byte stream: `serve --stdio --once`
 * joined to `connect HOST:PORT` (files both ways, sha256), and half-close exchanges through
 * `connect --listen` → `serve --forward` to socat running sha256sum, which answers only after
 * its client shut down its write side.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { assertSecsessBuilt, connLines, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { programPath, runProgram } from './helpers/programs.js';
import { runSecsess, startConnect, startSecsess, startServe } from './helpers/secsess-bin.js';
import { address, startSha256Service, writeRandomFile } from './helpers/services.js';
import { exchange, within } from './helpers/tcp-client.js';

test.before(() => assertSecsessBuilt());

const MB = 1_000_000;
const real = realTest(['socat', 'sha256sum'], true);

real('serve --stdio --once and connect HOST:PORT carry a file each way and both exit 0', async (t) => {
  const { dir, keys } = await tunnelFiles(t);
  const up = join(dir, 'up.bin');
  const down = join(dir, 'down.bin');
  const upSha = await writeRandomFile(up, 8 * MB);
  const downSha = await writeRandomFile(down, 2 * MB);

  const serve = await started(
    t,
    startSecsess(['serve', '--stdio', '--once', '--listen', '127.0.0.1:0', '--key', keys.serverKey], {
      stdin: 'pipe',
      captureStdout: false,
    }),
  );
  const served = createHash('sha256');
  const servedDone = pipeline(serve.child.stdout!, served);
  const feeding = pipeline(createReadStream(down), serve.child.stdin!);

  const client = await runSecsess(['connect', serve.address, '--server-pub', keys.serverPub], {
    stdinFile: up,
  });
  t.is(client.code, 0, client.stderr);
  t.is(client.stdoutBytes, 2 * MB);
  t.is(client.stdoutSha256, downSha, 'connect wrote what serve read from its stdin');

  const exit = await within(serve.exited, 60_000, 'serve --once to exit');
  t.deepEqual(exit, { code: 0, signal: null }, serve.output());
  await within(Promise.all([servedDone, feeding]), 10_000, 'serve stdio to finish');
  t.is(served.digest('hex'), upSha, 'serve wrote what connect read from its stdin');
  const [conn] = await connLines(serve, 1);
  t.like(conn, { event: 'conn', side: 'serve', up: 8 * MB, down: 2 * MB, close: 1000 });
});

real(
  'a half-close exchange: socat sends 4 MB, shuts down its write side and reads sha256sum’s whole answer',
  async (t) => {
    const { dir, keys } = await tunnelFiles(t);
    const file = join(dir, 'data.bin');
    const sha = await writeRandomFile(file, 4 * MB);
    const service = await started(t, startSha256Service());
    const serve = await started(t, startServe(keys, address(service)));
    const connect = await started(t, startConnect(keys, serve.address));

    // -t 60: after its stdin's EOF socat half-closes and waits (up to 60 s) for the answer.
    const socat = await runProgram(
      programPath('socat'),
      ['-t', '60', 'STDIO', `TCP:127.0.0.1:${connect.port}`],
      {
        input: await readFile(file),
      },
    );
    t.is(socat.exit.code, 0, socat.output);
    t.is(socat.stdout, `${sha}  -\n`);

    const [served] = await connLines(serve, 1);
    const [connected] = await connLines(connect, 1);
    t.like(served, { side: 'serve', up: 4 * MB, down: 68, close: 1000 });
    t.like(connected, { side: 'connect', up: 4 * MB, down: 68, close: 1000 });
  },
);

real(
  'a node client half-closes after each of 3 requests on 3 connections and gets every answer',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const service = await started(t, startSha256Service());
    const serve = await started(t, startServe(keys, address(service)));
    const connect = await started(t, startConnect(keys, serve.address));
    const requests = [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.alloc(3 * MB, 7)];
    const answers = await Promise.all(requests.map((r) => exchange('127.0.0.1', connect.port, r)));
    answers.forEach((answer, i) => {
      t.is(answer.toString(), `${createHash('sha256').update(requests[i]!).digest('hex')}  -\n`);
    });
    const lines = await connLines(serve, 3);
    t.deepEqual(
      lines.map((l) => l['close']),
      [1000, 1000, 1000],
    );
    t.deepEqual(
      lines.map((l) => l['up']).sort((a, b) => Number(a) - Number(b)),
      [0, 6, 3 * MB],
    );
  },
);
