/**
 * Signals to a running `secsess serve`, observed from outside as an operator would: SIGHUP
 * reloads the key file and authorized_keys (one `reload` line; open sessions untouched; a bad
 * key file keeps the old key, and so does a good one beside a bad authorized_keys), SIGTERM drains (a `draining` line; new connections refused;
 * the open session keeps working and closes on its own; `stopped`; exit 0), a second SIGTERM
 * ends the drain at once, and the drain deadline closes what is left with 1001.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, writeFile } from 'node:fs/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { PublicKey } from '@secsess/keys';
import { assertSecsessBuilt, connLines, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { logEvents, runSecsess, startConnect, startServe } from './helpers/secsess-bin.js';
import type { SecsessProc, TunnelKeys } from './helpers/secsess-bin.js';
import { address, startSha256Service } from './helpers/services.js';
import { exchange, hold, within } from './helpers/tcp-client.js';
import type { Held } from './helpers/tcp-client.js';

test.before(() => assertSecsessBuilt());

const real = realTest(['socat', 'sha256sum'], true);

const sha = (data: string): string => `${createHash('sha256').update(data).digest('hex')}  -\n`;

/** serve (with authorized_keys) → the sha256 service, a connect --listen to it, one connection held open. */
async function tunnelWithOpenSession(
  t: ExecutionContext,
  keys: TunnelKeys,
  serveArgs: string[] = [],
): Promise<{ serve: SecsessProc; connect: SecsessProc; held: Held }> {
  const service = await started(t, startSha256Service());
  const serve = await started(
    t,
    startServe(keys, address(service), ['--authorized-keys', keys.authorizedKeys, ...serveArgs]),
  );
  const connect = await started(
    t,
    startConnect(keys, serve.address, ['--server-pub', keys.serverPub, '--key', keys.clientKey]),
  );
  const held = await started(t, hold('127.0.0.1', connect.port));
  held.socket.write('before, ');
  // The session exists once a byte has crossed: serve counts it in its sessions.
  t.is((await exchange('127.0.0.1', connect.port, 'probe')).toString(), sha('probe'));
  await connLines(serve, 1); // the probe's session is over: only the held one is open
  return { serve, connect, held };
}

/** `secsess connect SERVE` with stdin `input`: status, stdout, stderr. */
function oneShot(serve: SecsessProc, trust: string[], input: string): ReturnType<typeof runSecsess> {
  return runSecsess(['connect', serve.address, ...trust], { input });
}

real(
  'SIGHUP reloads the key file and authorized_keys; the open session goes on; a bad key file keeps the old key',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const { serve, held } = await tunnelWithOpenSession(t, keys);
    const oldFp = (await PublicKey.load(keys.serverPub)).fingerprint();
    const newFp = (await PublicKey.load(keys.otherPub)).fingerprint();
    const asClient = ['--key', keys.clientKey];

    // New server key, and authorized_keys gains the other key.
    await copyFile(keys.otherKey, keys.serverKey);
    const otherLine = (await PublicKey.load(keys.otherPub)).encode({ format: 'openssh' });
    await writeFile(keys.authorizedKeys, otherLine, { flag: 'a' });
    serve.child.kill('SIGHUP');
    const reload = await serve.waitForEvent((e) => e.event === 'reload', 'the reload line');
    t.deepEqual(reload['fingerprints'], [newFp]);
    t.like(reload, { added: 1, removed: 0 }, 'authorized_keys gained one key');
    t.not(newFp, oldFp);

    const oldPin = await oneShot(serve, ['--server-pub', keys.serverPub, ...asClient], 'old pin');
    t.is(oldPin.code, 1);
    t.regex(oldPin.stderr, /\[ERR_SERVER_KEY_MISMATCH\]$/m);
    const newPin = await oneShot(serve, ['--server-pub', keys.otherPub, ...asClient], 'new pin');
    t.is(newPin.code, 0, newPin.stderr);
    t.is(newPin.stdout.toString(), sha('new pin'));
    const otherClient = await oneShot(
      serve,
      ['--server-pub', keys.otherPub, '--key', keys.otherKey],
      'newly authorized',
    );
    t.is(otherClient.code, 0, `authorized_keys was reloaded: ${otherClient.stderr}`);

    // A key file that cannot be read: the reload fails, the key in force stays.
    await writeFile(keys.serverKey, 'not a key\n');
    serve.child.kill('SIGHUP');
    const failed = await serve.waitForEvent(
      (e) => e.event === 'reload' && 'error' in e,
      'a failed reload line',
    );
    t.regex(String(failed['error']), /^ERR_/);
    const still = await oneShot(serve, ['--server-pub', keys.otherPub, ...asClient], 'still');
    t.is(still.code, 0, still.stderr);

    // A good key file with an authorized_keys that cannot be read (too open a mode): every
    // file is read before any goes into force, so the new key does not either.
    await copyFile(keys.clientKey, keys.serverKey);
    await chmod(keys.authorizedKeys, 0o666);
    serve.child.kill('SIGHUP');
    await serve.waitUntil((text) => {
      const lines = logEvents(text).filter((e) => e.event === 'reload' && 'error' in e);
      return lines.length >= 2 ? lines : undefined;
    }, 'a second failed reload line');
    const unchanged = await oneShot(serve, ['--server-pub', keys.otherPub, ...asClient], 'unchanged');
    t.is(unchanged.code, 0, `the key in force stays: ${unchanged.stderr}`);
    const notYet = await oneShot(serve, ['--server-pub', keys.clientPub, ...asClient], 'not yet');
    t.regex(notYet.stderr, /\[ERR_SERVER_KEY_MISMATCH\]$/m);
    await chmod(keys.authorizedKeys, 0o600);

    // The session opened before both reloads still carries its exchange to the end.
    held.socket.end('after');
    t.is((await within(held.ended, 60_000, 'the held answer')).toString(), sha('before, after'));
    t.is(serve.child.exitCode, null, 'serve is still running');
  },
);

real(
  'SIGTERM drains: new connections refused, the open session finishes, then stopped and exit 0',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const { serve, connect, held } = await tunnelWithOpenSession(t, keys, ['--drain-timeout', '600']);
    serve.child.kill('SIGTERM');
    const draining = await serve.waitForEvent((e) => e.event === 'draining', 'the draining line');
    t.is(draining['sessions'], 1);

    const refused = await oneShot(
      serve,
      ['--server-pub', keys.serverPub, '--key', keys.clientKey],
      'too late',
    );
    t.is(refused.code, 1, 'serve no longer accepts connections');
    t.regex(refused.stderr, /^secsess: .+ \[[A-Z_]+\]$/m);

    held.socket.end('during the drain');
    t.is((await within(held.ended, 60_000, 'the held answer')).toString(), sha('before, during the drain'));
    await serve.waitForEvent((e) => e.event === 'stopped', 'the stopped line', 60_000);
    t.deepEqual(await within(serve.exited, 60_000, 'serve to exit'), { code: 0, signal: null });
    const lines = await connLines(serve, 2);
    t.deepEqual(
      lines.map((l) => l['close']),
      [1000, 1000],
    );

    connect.child.kill('SIGTERM');
    await connect.waitForEvent((e) => e.event === 'stopped', 'connect --listen: the stopped line');
    t.deepEqual(await within(connect.exited, 60_000, 'connect to exit'), { code: 0, signal: null });
  },
);

real('a second SIGTERM ends the drain at once', async (t) => {
  const { keys } = await tunnelFiles(t);
  const { serve, held } = await tunnelWithOpenSession(t, keys, ['--drain-timeout', '600']);
  serve.child.kill('SIGTERM');
  await serve.waitForEvent((e) => e.event === 'draining', 'the draining line');
  serve.child.kill('SIGTERM');
  await serve.waitForEvent((e) => e.event === 'stopped', 'the stopped line', 60_000);
  t.deepEqual(await within(serve.exited, 60_000, 'serve to exit'), { code: 0, signal: null });
  await within(held.closed, 60_000, 'the held connection to be closed');
  const lines = await connLines(serve, 2);
  t.like(lines[1], { close: 1001 });
});

real('the drain deadline (--drain-timeout 1) closes a session still open with 1001', async (t) => {
  const { keys } = await tunnelFiles(t);
  const { serve, held } = await tunnelWithOpenSession(t, keys, ['--drain-timeout', '1']);
  serve.child.kill('SIGTERM');
  await serve.waitForEvent((e) => e.event === 'stopped', 'the stopped line', 60_000);
  t.deepEqual(await within(serve.exited, 60_000, 'serve to exit'), { code: 0, signal: null });
  await within(held.closed, 60_000, 'the held connection to be closed');
  t.is(held.received().length, 0, 'the service never answered: the client never half-closed');
  const lines = await connLines(serve, 2);
  t.like(lines[1], { close: 1001 });
});
