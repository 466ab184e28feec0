/**
 * `--symmetric` of `secsess serve` and `connect`: chacha20-poly1305 is accepted by both; the
 * connect default is the fastest cipher the process has (aes-256-gcm on @secsess/native;
 * without it chacha20-poly1305 on sodium-native, else aes-256-gcm; SECSESS_CRYPTO=node forces
 * aes-256-gcm), said by --help, and falls back to aes-256-gcm once when a server refuses a
 * default chacha20-poly1305 (a --symmetric given never); a
 * ChaCha20-Poly1305 tunnel works when serve runs on node:crypto and connect on libsodium; the
 * bundle leaves sodium-native and @secsess/native (native addons) to be required at run time.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { buildTunnelParser } from '@secsess/cli';
import { cryptoBackends, Symmetric } from '@secsess/sdk';
import { algorithmSet, defaultSymmetric, SYMMETRIC_CHOICES } from '../src/tunnel/options.js';
import { lines } from './helpers/cli.js';
import { connectArgs, exchange, serveArgs, tunnelFixture, TUNNEL_BIN } from './helpers/tunnel.js';

const fx = tunnelFixture('symmetric');
/** Whoever runs the tests may force node:crypto for the whole run. */
const forced = process.env['SECSESS_CRYPTO'] === 'node';

function parse(args: string[]): Promise<{ error: Error | null | undefined; argv: Record<string, unknown> }> {
  return new Promise((resolve) => {
    void buildTunnelParser().parse(args, {}, (error, argv) => resolve({ error, argv }));
  });
}

/** `secsess ...args` to its end, stdin `input`, with `env` added. */
function secsess(
  args: string[],
  input: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [TUNNEL_BIN, ...args],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', ...env } },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') reject(error);
        else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
    // A connect that is refused exits without reading its input: EPIPE is no failure here.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

test('--symmetric takes chacha20-poly1305 in serve and connect; each choice is its suite', async (t) => {
  t.deepEqual([...SYMMETRIC_CHOICES], ['chacha20-poly1305', 'aes-256-gcm', 'aes-256-cbc', 'aes-128-cbc']);
  const serve = await parse([
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--key',
    'k',
    '--forward',
    '127.0.0.1:1',
    '--symmetric',
    'chacha20-poly1305',
  ]);
  t.is(serve.error, null);
  t.is(serve.argv['symmetric'], 'chacha20-poly1305');
  const connect = await parse(['connect', 'h:1', '--trust', 'tofu', '--symmetric', 'chacha20-poly1305']);
  t.is(connect.error, null);
  t.is(connect.argv['symmetric'], 'chacha20-poly1305');
  t.deepEqual(
    SYMMETRIC_CHOICES.map((c) => algorithmSet(c)),
    [Symmetric.CHACHA20POLY1305, Symmetric.AES256GCM, Symmetric.AES256, Symmetric.AES128].map(
      (symmetric) => ({
        symmetric,
      }),
    ),
  );
  const wrong = await parse(['connect', 'h:1', '--trust', 'tofu', '--symmetric', 'chacha20']);
  t.regex(String(wrong.error?.message), /--symmetric "chacha20" is not one of|Invalid values/);
});

test('the default cipher is aes-256-gcm on @secsess/native, chacha20-poly1305 when only libsodium seals in place, else aes-256-gcm', (t) => {
  t.is(
    defaultSymmetric({ 'aes-256-gcm': '@secsess/native', 'chacha20-poly1305': '@secsess/native' }),
    'aes-256-gcm',
  );
  t.is(
    defaultSymmetric({ 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'sodium-native' }),
    'chacha20-poly1305',
  );
  t.is(defaultSymmetric({ 'aes-256-gcm': 'node:crypto', 'chacha20-poly1305': 'node:crypto' }), 'aes-256-gcm');
  // This process: @secsess/native is built in the repository.
  t.is(cryptoBackends()['chacha20-poly1305'], forced ? 'node:crypto' : '@secsess/native');
  t.is(defaultSymmetric(), 'aes-256-gcm');
});

test('connect --help says the rule of the default and lists chacha20-poly1305', async (t) => {
  const help = await secsess(['connect', '--help'], '');
  t.is(help.code, 0);
  t.regex(help.stdout, /--symmetric[\s\S]*"chacha20-poly1305", "aes-256-gcm", "aes-256-cbc", "aes-128-cbc"/);
  t.regex(help.stdout, /default:\s+aes-256-gcm, or chacha20-poly1305 if only\s+sodium-native loads/);
  const serveHelp = await secsess(['serve', '--help'], '');
  t.regex(serveHelp.stdout, /"chacha20-poly1305"/);
});

test.serial(
  'connect asks for aes-256-gcm by default on @secsess/native, chacha20-poly1305 with only libsodium (SECSESS_CRYPTO=sodium), aes-256-gcm with SECSESS_CRYPTO=node',
  async (t) => {
    const chachaOnly = fx.start(
      serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'chacha20-poly1305']),
    );
    const gcmOnly = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-gcm']));
    const to = async (tunnel: typeof chachaOnly) => `127.0.0.1:${await tunnel.port()}`;
    const trust = ['--server-pub', fx.keys.serverPub];
    const auto = { SECSESS_CRYPTO: '' };
    const native = { SECSESS_CRYPTO: 'sodium' };
    const node = { SECSESS_CRYPTO: 'node' };

    const byDefault = await secsess(['connect', await to(gcmOnly), ...trust], 'gcm by default', auto);
    t.is(byDefault.code, 0, byDefault.stderr);
    t.is(byDefault.stdout, 'gcm by default');
    t.deepEqual(lines(byDefault.stderr), [], 'asked for aes-256-gcm at once: no fallback');
    const chacha = await secsess(['connect', await to(chachaOnly), ...trust], 'chacha by default', native);
    t.is(chacha.code, 0, chacha.stderr);
    t.is(chacha.stdout, 'chacha by default');
    // A server that refuses it (an earlier release, or pinned to aes-256-gcm): asked again
    // for aes-256-gcm, once, said on stderr.
    const fellBack = await secsess(['connect', await to(gcmOnly), ...trust], 'fell back', native);
    t.is(fellBack.code, 0, fellBack.stderr);
    t.is(fellBack.stdout, 'fell back');
    t.deepEqual(lines(fellBack.stderr), [
      'secsess: the server refused chacha20-poly1305 (ERR_SUITE_MISMATCH): asking for aes-256-gcm from now on; --symmetric chooses',
    ]);
    // A cipher the user chose is never changed.
    const refused = await secsess(
      ['connect', await to(gcmOnly), ...trust, '--symmetric', 'chacha20-poly1305'],
      'x',
      native,
    );
    t.is(refused.code, 1);
    t.regex(lines(refused.stderr).join('\n'), /\[ERR_SUITE_MISMATCH\]$/);

    const gcm = await secsess(['connect', await to(gcmOnly), ...trust], 'gcm on node:crypto', node);
    t.is(gcm.code, 0, gcm.stderr);
    t.is(gcm.stdout, 'gcm on node:crypto');
    const asked = await secsess(
      ['connect', await to(chachaOnly), ...trust, '--symmetric', 'chacha20-poly1305'],
      'chacha on node:crypto',
      node,
    );
    t.is(asked.code, 0, asked.stderr);
    t.is(asked.stdout, 'chacha on node:crypto');
    t.is(await chachaOnly.stop(), 0);
    t.is(await gcmOnly.stop(), 0);
  },
);

test.serial(
  'connect --listen against a server that refuses chacha20-poly1305: connections opened together all fall back, and one line says so',
  async (t) => {
    const gcmOnly = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'aes-256-gcm']));
    // Without @secsess/native (SECSESS_CRYPTO=sodium), the default is chacha20-poly1305.
    const client = fx.start(connectArgs(await gcmOnly.port(), fx.keys.serverPub), {
      env: { SECSESS_CRYPTO: 'sodium' },
    });
    const port = await client.port();
    // Opened at once: all ask for chacha20-poly1305 before the first refusal is back.
    const data = [0, 1, 2, 3].map((i) => Buffer.alloc(1000 + i, 0x30 + i));
    const replies = await Promise.all(data.map((d) => exchange(port, d)));
    t.true(
      replies.every((r, i) => r.equals(data[i]!)),
      'every connection echoed',
    );
    await client.linesMatching(/^secsess: conn /, data.length);
    t.is(client.lines.filter((l) => /refused chacha20-poly1305/.test(l)).length, forced ? 0 : 1);
    t.is(await client.stop(), 0);
    t.is(await gcmOnly.stop(), 0);
  },
);

test.serial(
  'a ChaCha20-Poly1305 tunnel between serve on node:crypto and connect on libsodium carries 1 MiB both ways',
  async (t) => {
    const serve = fx.start(serveArgs(fx.keys.serverKey, fx.echo.port, ['--symmetric', 'chacha20-poly1305']), {
      env: { SECSESS_CRYPTO: 'node', NODE_DEBUG: 'secsess' },
    });
    const port = await serve.port();
    const data = Buffer.alloc(1 << 20, 'secsess ').toString();
    const result = await secsess(['connect', `127.0.0.1:${port}`, '--server-pub', fx.keys.serverPub], data, {
      SECSESS_CRYPTO: 'sodium',
      NODE_DEBUG: 'secsess',
    });
    t.is(result.code, 0, result.stderr.slice(-2000));
    t.true(result.stdout === data, 'the echo came back whole');
    t.regex(result.stderr, /crypto: AEAD backends: aes-256-gcm node:crypto, chacha20-poly1305 sodium-native/);
    t.true(
      serve.lines.some((l) => /chacha20-poly1305 node:crypto \(SECSESS_CRYPTO=node\)/.test(l)),
      'serve sealed with node:crypto',
    );
    t.is(await serve.stop(), 0);
  },
);

test('the secsess bundle requires sodium-native and @secsess/native at run time and carries none of either', async (t) => {
  const bundle = await readFile(fileURLToPath(new URL('../dist/secsess.js', import.meta.url)), 'utf8');
  // Both through the sdk's requireOptional(name, …): createRequire(import.meta.url)(name).
  t.regex(bundle, /createRequire\w*\(import\.meta\.url\)\(name\)/);
  t.regex(bundle, /requireOptional\w*\("sodium-native",/);
  t.regex(bundle, /requireOptional\w*\("@secsess\/native",/);
  t.false(bundle.includes('node_modules/sodium-native/'));
  t.false(bundle.includes('require-addon'));
  t.false(bundle.includes('secsess_aead.node'));
});
