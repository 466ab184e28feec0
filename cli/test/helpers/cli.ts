/**
 * Runs the built `secsess-keygen` bin (cli/bin/secsess-keygen.js → cli/dist/secsess-keygen.js)
 * as a child process, the way users run it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The bin shim users run. */
export const BIN = fileURLToPath(new URL('../../bin/secsess-keygen.js', import.meta.url));

/** The esbuild bundle the shim imports. */
export const BUNDLE = fileURLToPath(new URL('../../dist/secsess-keygen.js', import.meta.url));

/** Throws a clear error if the CLI has not been built. */
export function assertBuilt(): void {
  if (!existsSync(BUNDLE)) {
    throw new Error(`${BUNDLE} is missing: run \`npm run build\` before the CLI tests (npm test does it)`);
  }
}

/** What one CLI run did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node cli/bin/secsess-keygen.js ...args` (or another `bin`, such as `secsess`'s) in
 * `cwd`, with `input` on its standard input (closed at once without it); never rejects on a
 * non-zero exit.
 */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; input?: string | Buffer; bin?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [options.bin ?? BIN, ...args],
      { cwd: options.cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
    child.stdin?.end(options.input);
  });
}

/** The lines of `text` that are not empty. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}
