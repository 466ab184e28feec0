/**
 * A loopback port where nothing listens and nothing will: a free port below the kernel's
 * ephemeral range. A port freed after `listen(0)` is inside that range, so another test's
 * outgoing connection may take it as its source port — or a connection to it may be given it
 * as its own source port and connect to itself (TCP simultaneous open) instead of being
 * refused. Below the range neither can happen: nothing here listens on a fixed port.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > 2048 ? value : 32768;
  } catch {
    return 32768;
  }
}

function free(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port on `host` (127.0.0.1 by default) that refuses connections. */
export async function refusedPort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1025, high - 8000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await free(port, host)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}
