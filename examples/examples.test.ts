/**
 * README.md's code blocks are real programs: each ```ts / ```sh block is preceded by
 * `<!-- example: examples/FILE -->` and appears, line for line, in that file (or, for a
 * block that cannot run here, by `<!-- not run: why -->`); each example runs to completion
 * in an empty folder (keys first: the others use its secrets/server.key), so the tour cannot
 * drift from the API. `npm run typecheck` type-checks them (tsconfig.tests.json).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const tsx = import.meta.resolve('tsx');

interface Block {
  readonly line: number;
  readonly lang: string;
  readonly marker: string | undefined;
  readonly body: string[];
}

/** The fenced code blocks of a markdown text, with the HTML comment just above each. */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== '```') body.push(lines[i]!.trimEnd());
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === '') above--;
    const marker = /^<!-- (.*) -->$/.exec(lines[above]?.trim() ?? '')?.[1];
    blocks.push({ line: start + 1, lang: open[1]!, marker, body });
  }
  return blocks;
}

/** Whether `needle`'s lines appear consecutively in `haystack` (trailing spaces ignored). */
function containsLines(haystack: string, needle: readonly string[]): boolean {
  const lines = haystack.split('\n').map((l) => l.trimEnd());
  for (let i = 0; i + needle.length <= lines.length; i++) {
    if (needle.every((l, j) => lines[i + j] === l)) return true;
  }
  return false;
}

test('every README code block is an example file (or says why it is not run)', async (t) => {
  const blocks = codeBlocks(await readFile(join(root, 'README.md'), 'utf8'));
  t.true(blocks.length >= 10);
  for (const block of blocks) {
    const where = `README.md:${block.line} (${block.lang || 'no language'})`;
    const file = /^example: (\S+)$/.exec(block.marker ?? '')?.[1];
    if (file === undefined) {
      t.regex(block.marker ?? '', /^not run: \S/, `${where}: no <!-- example: FILE --> above it`);
      t.notRegex(
        block.lang,
        /^(ts|typescript|js|javascript|mjs)$/,
        `${where}: every TS/JS block must be an example`,
      );
      continue;
    }
    const text = await readFile(join(root, file), 'utf8');
    t.true(containsLines(text, block.body), `${where}: the block differs from ${file}`);
  }
});

/** Runs one example with cwd `dir`; resolves with its exit code, stdout and stderr. */
function run(
  dir: string,
  command: string,
  args: readonly string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: dir,
      env: {
        ...process.env,
        SECSESS_HOME: join(dir, 'home'), // never the user's ~/.secsess
        PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env['PATH'] ?? ''}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const runTs = (dir: string, name: string) =>
  run(dir, process.execPath, [`--import=${tsx}`, '--conditions=source', join(here, `${name}.ts`)]);

let shared: string;
test.before(async () => {
  shared = await mkdtemp(join(tmpdir(), 'secsess-examples-'));
  const keys = await runTs(shared, 'keys');
  if (keys.code !== 0) throw new Error(`examples/keys.ts failed: ${keys.err}`);
});
test.after.always(async () => {
  await rm(shared, { recursive: true, force: true });
});

// Every examples/*.ts but keys (run first, above) and client-drops (below).
const names = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3))
  .filter((name) => name !== 'keys' && name !== 'client-drops');
test('the examples are found', (t) => {
  t.true(names.includes('secsess-way'));
});
for (const name of names) {
  test.serial(`examples/${name}.ts runs`, async (t) => {
    const started = Date.now();
    const { code, out, err } = await runTs(shared, name);
    t.is(code, 0, `stdout:\n${out}\nstderr:\n${err}`);
    if (name === 'server-ops') {
      // Its client half-closes during stop({ drain: 30_000 }): the handler closes the
      // session once it reads null, and the drain ends then, not at its deadline.
      t.true(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    }
  });
}

// The README's echo listener must survive a client that vanishes mid-session: a rejected async
// 'session' listener fails that session alone (Session's captureRejections), never the process.
test.serial('examples/client-drops.ts: the echo server survives a client that vanishes', async (t) => {
  const { code, out, err } = await runTs(shared, 'client-drops');
  t.is(code, 0, `stdout:\n${out}\nstderr:\n${err}`);
  t.regex(out, /the server survived/);
});

test('examples/keygen.sh runs (needs `npm run build`)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-keygen-example-'));
  try {
    const { code, out, err } = await run(dir, 'bash', [join(here, 'keygen.sh')]);
    t.is(code, 0, `stdout:\n${out}\nstderr:\n${err}`);
    t.regex(out, /^ssh-rsa AAAA/m);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
