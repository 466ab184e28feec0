/**
 * Addresses of `secsess`: ADDR (`host:port`, `[v6]:port`, or `systemd`) and the loopback
 * policy that makes the command safe by default. The service behind `serve --forward` and
 * the plaintext side of `connect --listen` carry the application's bytes in the clear, so
 * both must be on this machine's loopback unless the user says otherwise with
 * `--unsafe-target` / `--unsafe-listen`.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { formatEndpoint, TrustedAddresses } from '@secsess/sdk';
import { CliError, CliErrorCode } from '../errors.js';
import { parseHostPort } from '../commands/host-port.js';
import type { HostPort } from '../commands/host-port.js';

/** The ADDR word that takes the listening socket systemd passes (fd 3). */
export const SYSTEMD = 'systemd';

/** Where to listen: an address, or the socket systemd passed. */
export type ListenAddress = HostPort | typeof SYSTEMD;

/** Parses an ADDR to listen on (port 0 allowed). Throws an Error yargs reports as a usage error. */
export function parseListen(text: string): ListenAddress {
  return text === SYSTEMD ? SYSTEMD : parseHostPort(text, { allowPortZero: true });
}

/** A socket's peer for log lines: `host:port`, IPv6 in brackets; `-` when unknown (closed). */
export function peerLabel(address: string | undefined, port: number | undefined): string {
  return address === undefined || port === undefined ? '-' : formatEndpoint({ host: address, port });
}

/** 127.0.0.0/8 and ::1 (IPv4-mapped forms of 127/8 included, as BlockList maps them). */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `address` (an IP literal) is a loopback address. */
export function isLoopback(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether `host` is loopback: an IP literal in 127.0.0.0/8 or ::1, or a name (`localhost`)
 * every address of which is. Checked at start (serve's backend connections check the address
 * they reach again, see backend.ts `openBackend`).
 *
 * @param option - the flag that gave `host`, for messages (`--forward`)
 * @throws CliError ERR_RESOLVE when the name does not resolve (a typo, no DNS answer): a
 *   failed lookup says nothing about where the name points, and is no security refusal
 */
export async function hostIsLoopback(host: string, option: string): Promise<boolean> {
  if (isIP(host) !== 0) return isLoopback(host);
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'no answer';
    throw new CliError(
      CliErrorCode.RESOLVE,
      `${option} ${host}: cannot resolve the name (${code}); check it, or give an IP address`,
      { cause },
    );
  }
  return addresses.length > 0 && addresses.every((a) => isLoopback(a.address));
}

/**
 * Refuses a non-loopback `host` unless `unsafe`: ERR_UNSAFE_TARGET for serve's
 * `--forward`, ERR_UNSAFE_LISTEN for connect's `--listen`; ERR_RESOLVE for a name that
 * does not resolve.
 */
export async function checkLoopback(
  host: string,
  what: 'forward' | 'listen',
  unsafe: boolean,
): Promise<void> {
  if (unsafe || (await hostIsLoopback(host, `--${what}`))) return;
  if (what === 'forward') {
    throw new CliError(
      CliErrorCode.UNSAFE_TARGET,
      `--forward ${host} is not a loopback address: the bytes between secsess and the service ` +
        'travel in the clear; forward to 127.0.0.1, ::1 or localhost, or pass --unsafe-target ' +
        'if the network to it is trusted',
    );
  }
  throw new CliError(
    CliErrorCode.UNSAFE_LISTEN,
    `--listen ${host} is not a loopback address: anyone who reaches it could use the tunnel, ` +
      'and its bytes travel in the clear; listen on 127.0.0.1, ::1 or localhost, or pass ' +
      '--unsafe-listen if the network to it is trusted',
  );
}

/**
 * Refuses a `serve` listening on a non-loopback `host` without --authorized-keys (every client
 * would be served: the backend published to anyone who reaches the port) unless `allowed`
 * (`--allow-any-client`) or `authorized` (`--authorized-keys`). For `--listen systemd`,
 * `host` is the address of the socket passed (null: unknown, not loopback).
 */
export async function checkAnyClient(
  host: string | null,
  authorized: boolean,
  allowed: boolean,
  label = host ?? '?',
): Promise<void> {
  if (authorized || allowed || (host !== null && (await hostIsLoopback(host, '--listen')))) return;
  throw new CliError(
    CliErrorCode.UNSAFE_ANY_CLIENT,
    `--listen ${label} is not a loopback address and there is no --authorized-keys: any client ` +
      'that reaches it would reach the service; give --authorized-keys FILE, or pass ' +
      '--allow-any-client if the service is meant for anyone',
  );
}

/** Checks `--accept-proxy` values (addresses or CIDRs). Throws an Error yargs reports as a usage error. */
export function checkAcceptProxy(values: unknown): void {
  // yargs leaves `true` (or []) for a flag without its value.
  if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string')) {
    throw new Error('--accept-proxy needs an ADDR or CIDR after it');
  }
  for (const value of values as string[]) {
    try {
      new TrustedAddresses([value]);
    } catch {
      throw new Error(
        `--accept-proxy ${JSON.stringify(value)} is not an IP address or CIDR (10.0.0.5, 10.0.0.0/8, 2001:db8::/32)`,
      );
    }
  }
  // The SDK's bound on the list (it is scanned for every connection).
  new TrustedAddresses(values as string[], '--accept-proxy');
}

/**
 * Refuses `--accept-proxy` without --authorized-keys unless `allowed` (`--allow-any-client`):
 * the clients are whoever reaches the proxy, whatever address serve listens on (a loopback
 * `--listen` behind a public HAProxy serves the internet).
 */
export function checkProxiedClients(authorized: boolean, allowed: boolean): void {
  if (authorized || allowed) return;
  throw new CliError(
    CliErrorCode.UNSAFE_ANY_CLIENT,
    '--accept-proxy without --authorized-keys: the clients are whoever reaches the proxy, and all of ' +
      'them would reach the service; give --authorized-keys FILE, or pass --allow-any-client if the ' +
      'service is meant for anyone',
  );
}
