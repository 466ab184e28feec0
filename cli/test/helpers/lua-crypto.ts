/**
 * Runs the Wireshark dissector's pure-Lua cryptography in tshark's own Lua 5.2 on a list of
 * cases (`op hex …`, one a line; `-` is an empty byte string), through
 * cli/test/fixtures/wireshark-crypto-check.lua, and returns its result lines, for the tests
 * that compare them with node:crypto (wireshark-crypto.test.ts, wireshark-chacha.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);
const CHECK = new URL('../fixtures/wireshark-crypto-check.lua', import.meta.url).pathname;

/** Bytes as a case's hex word (`-` when empty). */
export const hex = (b: Buffer): string => (b.length === 0 ? '-' : b.toString('hex'));

/** Cases and the line expected for each. */
export class LuaCases {
  readonly lines: string[] = [];
  readonly expected: string[] = [];

  add(line: string, result: string): void {
    this.lines.push(line);
    this.expected.push(result);
  }
}

/** Runs the cases in tshark's Lua and checks every result line (a Lua error fails the test). */
export async function checkLuaCases(t: ExecutionContext, cases: LuaCases): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-lua-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const input = join(dir, 'cases.txt');
  const output = join(dir, 'out.txt');
  await writeFile(input, cases.lines.join('\n') + '\n');
  // -G folders: tshark loads the Lua script, prints its folders and exits; no capture needed.
  const args = [
    '-G',
    'folders',
    '-X',
    `lua_script:${CHECK}`,
    '-X',
    `lua_script1:${input}`,
    '-X',
    `lua_script1:${output}`,
  ];
  const { stderr } = await run('tshark', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  if (/Lua: Error|lua_error/i.test(stderr)) throw new Error(`tshark: ${stderr}`);
  const got = (await readFile(output, 'utf8')).trimEnd().split('\n');
  t.is(got.length, cases.lines.length);
  for (let i = 0; i < cases.lines.length; i++) t.is(got[i], cases.expected[i], cases.lines[i]!.slice(0, 60));
}
