/**
 * curl through the `secsess` tunnel to a real web server: `python3 -m http.server` serves a
 * 100 MB file from a temp dir; curl fetches it through `connect --listen` → `serve
 * --forward`, and what it got must hash like the file. Both ends log one `conn` line.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { assertSecsessBuilt, connLines, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { startConnect, startServe } from './helpers/secsess-bin.js';
import { address, startHttpServer, writeRandomFile } from './helpers/services.js';
import { curlHashed } from './helpers/curl.js';

test.before(() => assertSecsessBuilt());

const real = realTest(['curl', 'python3'], true);

/** curl -sS --fail URL, stdout hashed: [status, sha256, bytes, stderr]. */
const curl = (t: ExecutionContext, url: string) => curlHashed(t, url, { seconds: 120 });

real('curl fetches 100 MB from python3 -m http.server through connect → serve, sha256 equal', async (t) => {
  const { dir, keys } = await tunnelFiles(t);
  const www = join(dir, 'www');
  await mkdir(www);
  const size = 100 * 1024 * 1024;
  const sha = await writeRandomFile(join(www, 'big.bin'), size);
  const http = await started(t, startHttpServer(www));
  const serve = await started(t, startServe(keys, address(http)));
  const connect = await started(t, startConnect(keys, serve.address));

  const [status, got, bytes, stderr] = await curl(t, `http://127.0.0.1:${connect.port}/big.bin`);
  t.is(status, 0, stderr);
  t.is(bytes, size);
  t.is(got, sha);

  // python's HTTP/1.0 server closes after the reply: its End crosses the tunnel, curl closes,
  // and both halves ended is a normal close on both sides.
  const [served] = await connLines(serve, 1);
  const [connected] = await connLines(connect, 1);
  for (const line of [served, connected]) {
    t.like(line, { close: 1000 });
    t.true(Number(line!['down']) > size, 'down counts the reply: headers and the file');
    t.true(Number(line!['up']) > 0, 'up counts the request');
  }
  t.is(served!['up'], connected!['up']);
  t.is(served!['down'], connected!['down']);
  t.is(served!['fingerprint'], null, 'no client key was given');
  t.regex(String(connected!['fingerprint']), /^SHA256:/);
});
