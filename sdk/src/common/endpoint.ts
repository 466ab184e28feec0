/**
 * Endpoints, as SecSess's `IPEndPoint`: `"host:port"`, `"[v6addr]:port"` or `{ host, port }`.
 * Parsing is strict so a typo fails at `create()` rather than at connect time.
 */
import { isIP, isIPv6 } from 'node:net';

/** A host and a TCP port. `host` is a name, an IPv4 address or an IPv6 address without brackets. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** What the API accepts where an endpoint is expected. */
export type EndpointInput = string | { readonly host: string; readonly port: number };

/** Host names: letters, digits, hyphens and dots (RFC 1123), at most 253 characters. */
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * Parses and validates an endpoint.
 *
 * @param input `"127.0.0.1:4433"`, `"localhost:4433"`, `"[::1]:4433"` or `{ host, port }`.
 * @param options.allowPortZero Accept port 0 (a listener picks a free port). Default false.
 * @throws TypeError when the input is not an endpoint (wrong type, missing port, unbracketed
 *   IPv6, bad host name); RangeError when the port is outside 0/1–65535.
 */
export function parseEndpoint(input: EndpointInput, options: { allowPortZero?: boolean } = {}): Endpoint {
  const minPort = options.allowPortZero ? 0 : 1;
  if (typeof input === 'string') return parseString(input, minPort);
  if (input === null || typeof input !== 'object') {
    throw new TypeError('endpoint must be a "host:port" string or a { host, port } object');
  }
  const { host, port } = input;
  if (typeof host !== 'string') throw new TypeError('endpoint.host must be a string');
  checkHost(host, host);
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw new TypeError('endpoint.port must be an integer');
  }
  checkPort(port, minPort);
  return { host: stripBrackets(host), port };
}

/** Formats an endpoint for messages and `listening on` lines: IPv6 hosts get brackets. */
export function formatEndpoint(endpoint: Endpoint): string {
  return isIPv6(endpoint.host) ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

function parseString(input: string, minPort: number): Endpoint {
  let host: string;
  let portText: string;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0 || input[close + 1] !== ':') {
      throw new TypeError(`endpoint "${input}" must look like "[v6addr]:port"`);
    }
    host = input.slice(1, close);
    if (!isIPv6(host)) throw new TypeError(`endpoint "${input}": "${host}" is not an IPv6 address`);
    portText = input.slice(close + 2);
  } else {
    const colon = input.lastIndexOf(':');
    if (colon < 0) throw new TypeError(`endpoint "${input}" has no port: use "host:port"`);
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes(':')) {
      throw new TypeError(`endpoint "${input}": put IPv6 addresses in brackets, as "[::1]:port"`);
    }
    checkHost(host, input);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) {
    throw new TypeError(`endpoint "${input}": the port must be a decimal number`);
  }
  const port = Number(portText);
  checkPort(port, minPort);
  return { host, port };
}

function checkHost(host: string, shown: string): void {
  const bare = stripBrackets(host);
  if (bare.length === 0) throw new TypeError(`endpoint "${shown}" has an empty host`);
  if (isIP(bare) !== 0) return;
  if (!HOSTNAME.test(bare)) throw new TypeError(`endpoint "${shown}": "${bare}" is not a valid host name`);
}

function checkPort(port: number, minPort: number): void {
  if (port < minPort || port > 65535) {
    throw new RangeError(`endpoint port must be from ${minPort} to 65535, got ${port}`);
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
