/**
 * `npm run demo`: the whole story in one command, non-interactively.
 *
 *   1. makes a server key pair with the `secsess-keygen` CLI, unless `.demo-keys/` has one;
 *   2. starts the ping-pong server as a child process on a free port;
 *   3. runs the ping-pong client against it (100 round trips of 1024 random bytes);
 *   4. prints the round trips, the time per round trip and the server's fingerprint,
 *      then stops the server (SIGTERM) and waits for it.
 *
 *   node samples/dist/demo.js [--keys DIR] [--rounds N] [--size BYTES]
 *
 * Exits non-zero if any step fails.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
/** `.js` when running from samples/dist, `.ts` from source under tsx. */
const EXT = extname(fileURLToPath(import.meta.url));
/** How long the server may take to print its address, and to stop after SIGTERM. */
const STEP_TIMEOUT_MS = 20_000;

interface Spawned {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function findRepoRoot(from: string): string {
  let dir = from;
  for (let i = 0; i < 10; i++) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'secsess-workspace'
    ) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error('cannot find the secsess repository root (package.json named secsess-workspace)');
}

/** Node flags to pass on (tsx when the demo itself runs from source). */
function nodeArgs(): string[] {
  return process.execArgv.filter((a) => /^--(import|conditions|loader|require)\b/.test(a));
}

/** Runs a node script to completion, collecting its output. */
async function run(script: string, args: string[], cwd: string): Promise<Spawned> {
  const child = spawn(process.execPath, [...nodeArgs(), script, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

async function ensureKeys(root: string, keysDir: string): Promise<{ key: string; pub: string }> {
  const key = join(keysDir, 'server.key');
  const pub = join(keysDir, 'server.pub');
  if (existsSync(key) && existsSync(pub)) {
    console.log(`keys: using ${key}`);
    return { key, pub };
  }
  console.log(`keys: generating an RSA-2048 pair with secsess-keygen into ${keysDir}`);
  const bin = join(root, 'cli', 'bin', 'secsess-keygen.js');
  const result = await run(bin, ['generate', '-b', '2048', '-o', join(keysDir, 'server'), '--json'], root);
  if (result.code !== 0) {
    throw new Error(`secsess-keygen failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  const doc = JSON.parse(result.stdout) as { privateKey: string; publicKey: string; fingerprint: string };
  console.log(`keys: ${doc.fingerprint}`);
  return { key: doc.privateKey, pub: doc.publicKey };
}

/** Starts the ping-pong server and reads its `listening on` and `fingerprint` lines. */
async function startServer(
  key: string,
  cwd: string,
): Promise<{ child: ChildProcess; host: string; port: number; fingerprint: string }> {
  const script = join(HERE, 'ping-pong', `server${EXT}`);
  const child = spawn(process.execPath, [...nodeArgs(), script, '--port', '0', '--key', key], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const header: string[] = [];
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  try {
    for await (const line of lines) {
      header.push(line);
      if (header.length === 2) break;
    }
  } finally {
    clearTimeout(timer);
  }
  const listening = /^listening on (.+):(\d+)$/.exec(header[0] ?? '');
  const fingerprint = /^fingerprint (SHA256:\S+)$/.exec(header[1] ?? '');
  if (!listening || !fingerprint) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start (it printed: ${JSON.stringify(header)})`);
  }
  child.stdout!.resume();
  const host = listening[1]!.replace(/^\[(.*)\]$/, '$1');
  return { child, host, port: Number(listening[2]), fingerprint: fingerprint[1]! };
}

async function stopServer(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  const [code] = await exited;
  clearTimeout(timer);
  return code;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      keys: { type: 'string' },
      rounds: { type: 'string', default: '100' },
      size: { type: 'string', default: '1024' },
    },
    strict: true,
  });
  const root = findRepoRoot(HERE);
  const keysDir = resolve(root, values.keys ?? '.demo-keys');
  const { key, pub } = await ensureKeys(root, keysDir);
  const server = await startServer(key, root);
  let failed = false;
  try {
    console.log(`server: listening on ${server.host}:${server.port}`);
    const client = await run(
      join(HERE, 'ping-pong', `client${EXT}`),
      [
        '--host',
        server.host,
        '--port',
        String(server.port),
        '--pub',
        pub,
        '--rounds',
        values.rounds,
        '--size',
        values.size,
      ],
      root,
    );
    for (const line of client.stdout.trimEnd().split('\n')) if (line) console.log(`client: ${line}`);
    if (client.code !== 0) {
      console.error(`client failed (exit ${client.code}): ${client.stderr.trim()}`);
      failed = true;
    } else {
      const seen = /^server (SHA256:\S+)$/m.exec(client.stdout)?.[1];
      if (seen !== server.fingerprint) {
        console.error(`the client saw server key ${seen}, the server announced ${server.fingerprint}`);
        failed = true;
      }
    }
  } finally {
    const code = await stopServer(server.child);
    console.log(`server: stopped (exit ${code})`);
    if (code !== 0) failed = true;
  }
  console.log(`server fingerprint: ${server.fingerprint}`);
  console.log(failed ? 'demo: FAILED' : 'demo: ok');
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
