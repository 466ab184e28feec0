/**
 * Tests that drive real programs (cli/test/tunnel-real-*.test.ts). A test names the programs
 * it needs: when one is missing it fails in CI (`CI=true`: .ci/run installs them) and is
 * skipped elsewhere, with the reason in its title and on stderr. Everything a test starts is
 * stopped by `t.teardown`, which runs whether the test passed or failed.
 */
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { IN_CI, missingPrograms } from './programs.js';
import { logEvents, SECSESS_BUNDLE, tunnelKeys } from './secsess-bin.js';
import type { LogEvent, SecsessProc, TunnelKeys } from './secsess-bin.js';
import { tempDir } from './services.js';

type Impl = (t: ExecutionContext) => Promise<void>;

/** Throws a clear error if the `secsess` bin has not been built (npm test builds it). */
export function assertSecsessBuilt(): void {
  if (!existsSync(SECSESS_BUNDLE)) {
    throw new Error(
      `${SECSESS_BUNDLE} is missing: run \`npm run build\` before the tunnel tests (npm test does it)`,
    );
  }
}

/** A `test` that needs `programs`: run, failed (CI) or skipped (elsewhere) as above. */
export function realTest(
  programs: readonly string[],
  serial = false,
  /** Other things missing here, by name (a capability such as IPv6 loopback). */
  alsoMissing: readonly string[] = [],
): (title: string, impl: Impl) => void {
  const missing = [...missingPrograms(programs), ...alsoMissing];
  const run = serial ? test.serial : test;
  return (title, impl) => {
    if (missing.length === 0) {
      run(title, impl);
    } else if (IN_CI) {
      run(title, (t) => {
        t.fail(
          `missing here: ${missing.join(', ')} (CI=true, so this is a failure; .ci/run installs the programs)`,
        );
      });
    } else {
      process.stderr.write(`skipping "${title}": missing here: ${missing.join(', ')}\n`);
      test.skip(`${title} [skipped: missing ${missing.join(', ')}]`, impl);
    }
  };
}

/** Whether an interface has the IPv6 loopback address (a container may have IPv6 disabled). */
export function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === '::1'));
}

/** Awaits a started process or service and registers its `stop()` as the test's teardown. */
export async function started<T extends { stop(): Promise<unknown> }>(
  t: ExecutionContext,
  starting: Promise<T>,
): Promise<T> {
  const value = await starting;
  t.teardown(async () => {
    await value.stop();
  });
  return value;
}

/** A temp dir with the tunnel's key files, removed at the test's end. */
export async function tunnelFiles(t: ExecutionContext): Promise<{ dir: string; keys: TunnelKeys }> {
  const { dir, remove } = await tempDir('tunnel');
  t.teardown(remove);
  return { dir, keys: await tunnelKeys(dir) };
}

/** Every `conn` line of a process, waiting until there are `count`. */
export async function connLines(proc: SecsessProc, count: number, ms = 60_000): Promise<LogEvent[]> {
  await proc.waitUntil(
    (text) => (logEvents(text).filter((e) => e.event === 'conn').length >= count ? true : undefined),
    `${count} conn line(s)`,
    ms,
  );
  return proc.events().filter((e) => e.event === 'conn');
}
