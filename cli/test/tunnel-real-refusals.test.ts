/**
 * Refusals through the real `secsess` bin, each with its code, while another tunnel to the
 * same `serve` (an authorized client, pinned key) keeps a connection open and working: a
 * wrong server key, an unknown host under `--trust strict`, an unauthorized client key and no
 * client key at all. The service is socat running sha256sum (it answers after the half-close).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { assertSecsessBuilt, realTest, started, tunnelFiles } from './helpers/real-test.js';
import { runSecsess, startConnect, startServe, trustServer } from './helpers/secsess-bin.js';
import type { SecsessProc } from './helpers/secsess-bin.js';
import { address, startSha256Service } from './helpers/services.js';
import { exchange, hold, within } from './helpers/tcp-client.js';

test.before(() => assertSecsessBuilt());

const real = realTest(['socat', 'sha256sum'], true);

const sha = (data: string): string => `${createHash('sha256').update(data).digest('hex')}  -\n`;

/** The one log line (`refused`, or `conn` when the refusal came after the handshake) naming `code`. */
function lineWithCode(proc: SecsessProc, code: string): Promise<unknown> {
  return proc.waitForEvent(
    (e) => (e.event === 'refused' && e['code'] === code) || (e.event === 'conn' && e['close'] === code),
    `a refused or conn line with ${code}`,
  );
}

real(
  'wrong server key, unknown host, unauthorized and keyless clients are refused with their codes; another tunnel keeps working',
  async (t) => {
    const { dir, keys } = await tunnelFiles(t);
    const service = await started(t, startSha256Service());
    const serve = await started(
      t,
      startServe(keys, address(service), ['--authorized-keys', keys.authorizedKeys]),
    );
    const good = await started(
      t,
      startConnect(keys, serve.address, ['--server-pub', keys.serverPub, '--key', keys.clientKey]),
    );
    const held = await started(t, hold('127.0.0.1', good.port));
    held.socket.write('first half, ');

    const attempts: [string, string[]][] = [
      ['ERR_SERVER_KEY_MISMATCH', ['--server-pub', keys.otherPub, '--key', keys.clientKey]],
      [
        'ERR_HOST_UNKNOWN',
        ['--trust', 'strict', '--known-hosts', join(dir, 'empty_known_hosts'), '--key', keys.clientKey],
      ],
      ['ERR_NOT_AUTHORIZED', ['--server-pub', keys.serverPub, '--key', keys.otherKey]],
      ['ERR_NOT_AUTHORIZED', ['--server-pub', keys.serverPub]],
    ];
    await writeFile(join(dir, 'empty_known_hosts'), '', { mode: 0o600 });
    for (const [code, trust] of attempts) {
      const run = await runSecsess(['connect', serve.address, ...trust], { input: 'never sent' });
      t.is(run.code, 1, `${code}: ${run.stderr}`);
      t.is(run.stdoutBytes, 0);
      t.regex(run.stderr, new RegExp(`^secsess: .+ \\[${code}\\]$`, 'm'), code);
      // The tunnel beside it still answers, each time.
      t.is((await exchange('127.0.0.1', good.port, code)).toString(), sha(code));
    }
    await lineWithCode(serve, 'ERR_NOT_AUTHORIZED');

    // The same host trusted through known_hosts (--trust strict) gets in.
    await trustServer(keys.knownHosts, serve.address, keys.serverPub);
    const trusted = await runSecsess(
      [
        'connect',
        serve.address,
        '--trust',
        'strict',
        '--known-hosts',
        keys.knownHosts,
        '--key',
        keys.clientKey,
      ],
      { input: 'known host' },
    );
    t.is(trusted.code, 0, trusted.stderr);
    t.is(trusted.stdout.toString(), sha('known host'));

    // The connection opened before every refusal finishes its exchange.
    held.socket.end('second half');
    t.is((await within(held.ended, 60_000, 'the held answer')).toString(), sha('first half, second half'));
  },
);

real(
  'connect --listen closes the local connection and logs the code when its handshake is refused',
  async (t) => {
    const { keys } = await tunnelFiles(t);
    const service = await started(t, startSha256Service());
    const serve = await started(
      t,
      startServe(keys, address(service), ['--authorized-keys', keys.authorizedKeys]),
    );
    const cases: [string, string[]][] = [
      ['ERR_SERVER_KEY_MISMATCH', ['--server-pub', keys.otherPub, '--key', keys.clientKey]],
      ['ERR_NOT_AUTHORIZED', ['--server-pub', keys.serverPub, '--key', keys.otherKey]],
    ];
    for (const [code, trust] of cases) {
      const connect = await started(t, startConnect(keys, serve.address, trust));
      const local = await started(t, hold('127.0.0.1', connect.port));
      local.socket.write('never answered');
      await within(local.closed, 60_000, `${code}: the local connection to be closed`);
      t.is(local.received().length, 0, code);
      await lineWithCode(connect, code);
      const lines = connect.events().filter((e) => e.event === 'conn' || e.event === 'refused');
      t.is(lines.length, 1, `one line for the one connection: ${JSON.stringify(lines)}`);
    }
  },
);
