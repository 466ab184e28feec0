/**
 * Loopback captures for the Wireshark dissector tests: dumpcap on `lo` (as root) with a BPF
 * filter, started for real before the test goes on, and waits for packets to reach the file;
 * the capture's files, with SECSESS_KEYLOG_FILE pointing the test's peers at its key log.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { promisify } from 'node:util';
import type { ExecutionContext } from 'ava';
import { freePort, spawnProc } from './programs.js';

const run = promisify(execFile);

/**
 * Waits (bounded) until the capture file holds `count` packets matching `filter`, calling
 * `poke` each time; resolves with how many it holds then.
 */
export async function waitForPackets(
  pcap: string,
  filter: string,
  count: number,
  poke = (): void => {},
): Promise<number> {
  for (let i = 0; i < 120; i++) {
    poke();
    const { stdout } = await run('tshark', [
      '-r',
      pcap,
      '-Y',
      filter,
      '-T',
      'fields',
      '-e',
      'frame.number',
    ]).catch(() => ({ stdout: '' }));
    const found = stdout.split('\n').filter(Boolean).length;
    if (found >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the capture did not get ${count} packet(s) matching ${filter}`);
}

/** A running capture of `filter` (plus its own probe port) into `pcap`. */
export interface Capture {
  /** Sends one more probe and waits until the file holds it: everything captured before it is in the file. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts dumpcap on lo. UDP probes to a port nobody listens on show when the capture really
 * runs: dumpcap says "Capturing on" a moment before its filter sees packets.
 */
export async function startCapture(t: ExecutionContext, pcap: string, filter: string): Promise<Capture> {
  const probe = createSocket('udp4');
  t.teardown(() => probe.close());
  const probePort = await freePort();
  const dumpcap = spawnProc('dumpcap', [
    '-i',
    'lo',
    '-f',
    `(${filter}) or udp port ${probePort}`,
    '-w',
    pcap,
  ]);
  t.teardown(() => dumpcap.stop('SIGINT'));
  await dumpcap.waitFor(/Capturing on/, 'the capture to start', 30_000);
  const poke = (): void => {
    probe.send('probe', probePort, '127.0.0.1');
  };
  // Probes sent before the filter was live are never in the file, and one may reach it late
  // (dumpcap writes about every 100 ms): each flush waits for its own probe, known by its
  // payload, not for a count.
  await waitForPackets(pcap, `udp.port == ${probePort}`, 1, poke);
  let flushes = 0;
  return {
    async flush() {
      const mark = `flush-${++flushes};`;
      probe.send(mark, probePort, '127.0.0.1');
      await waitForPackets(pcap, `udp.port == ${probePort} && frame contains "${mark}"`, 1);
    },
    async stop() {
      await dumpcap.stop('SIGINT');
    },
  };
}

/**
 * A temp dir for a capture (`pcap`) and its key log (`keylog`), with SECSESS_KEYLOG_FILE set to
 * the key log while the test runs (the peers it starts in-process write their secrets there);
 * both undone at the test's end.
 */
export async function captureFiles(
  t: ExecutionContext,
  prefix: string,
): Promise<{ pcap: string; keylog: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const keylog = join(dir, 'keys.log');
  const saved = process.env['SECSESS_KEYLOG_FILE'];
  process.env['SECSESS_KEYLOG_FILE'] = keylog;
  t.teardown(() => {
    if (saved === undefined) delete process.env['SECSESS_KEYLOG_FILE'];
    else process.env['SECSESS_KEYLOG_FILE'] = saved;
  });
  return { pcap: join(dir, 'capture.pcapng'), keylog };
}
