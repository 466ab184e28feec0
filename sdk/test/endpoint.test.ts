import test from 'ava';
import { Client, Server, formatEndpoint, parseEndpoint } from '../src/index.js';
import { fixtureKeys } from './helpers/keys.js';
import { echoSessions, ipv6Available } from './helpers/net.js';

test('parses host:port strings for names, IPv4 and bracketed IPv6', (t) => {
  t.deepEqual(parseEndpoint('127.0.0.1:4433'), { host: '127.0.0.1', port: 4433 });
  t.deepEqual(parseEndpoint('localhost:1'), { host: 'localhost', port: 1 });
  t.deepEqual(parseEndpoint('example.com:65535'), { host: 'example.com', port: 65535 });
  t.deepEqual(parseEndpoint('[::1]:4433'), { host: '::1', port: 4433 });
  t.deepEqual(parseEndpoint('[fe80::1:2]:80'), { host: 'fe80::1:2', port: 80 });
});

test('accepts { host, port } objects, with or without brackets around IPv6', (t) => {
  t.deepEqual(parseEndpoint({ host: '10.0.0.1', port: 22 }), { host: '10.0.0.1', port: 22 });
  t.deepEqual(parseEndpoint({ host: '::1', port: 22 }), { host: '::1', port: 22 });
  t.deepEqual(parseEndpoint({ host: '[::1]', port: 22 }), { host: '::1', port: 22 });
});

test('accepts port 0 only where a listener picks the port', (t) => {
  t.deepEqual(parseEndpoint('127.0.0.1:0', { allowPortZero: true }), { host: '127.0.0.1', port: 0 });
  const err = t.throws(() => parseEndpoint('127.0.0.1:0'), { instanceOf: RangeError });
  t.is(err?.message, 'endpoint port must be from 1 to 65535, got 0');
});

test('rejects malformed endpoints with TypeError naming the problem', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['127.0.0.1', /has no port/],
    ['::1:80', /put IPv6 addresses in brackets/],
    ['[::1]80', /must look like "\[v6addr\]:port"/],
    ['[not-v6]:80', /is not an IPv6 address/],
    [':80', /empty host/],
    ['host:', /port must be a decimal number/],
    ['host:8o', /port must be a decimal number/],
    ['host:-1', /port must be a decimal number/],
    ['bad_host!:80', /is not a valid host name/],
    [42, /must be a "host:port" string or a \{ host, port \} object/],
    [null, /must be a "host:port" string or a \{ host, port \} object/],
    [{ host: 1, port: 80 }, /endpoint.host must be a string/],
    [{ host: 'h', port: '80' }, /endpoint.port must be an integer/],
    [{ host: 'h', port: 1.5 }, /endpoint.port must be an integer/],
  ];
  for (const [input, message] of cases) {
    t.throws(() => parseEndpoint(input as string), { instanceOf: TypeError, message }, String(input));
  }
});

test('rejects ports above 65535 with RangeError', (t) => {
  t.throws(() => parseEndpoint('h:65536'), { instanceOf: RangeError, message: /from 1 to 65535, got 65536/ });
  t.throws(() => parseEndpoint({ host: 'h', port: 70000 }), { instanceOf: RangeError });
});

test('formats IPv6 endpoints with brackets and others as host:port', (t) => {
  t.is(formatEndpoint({ host: '::1', port: 5 }), '[::1]:5');
  t.is(formatEndpoint({ host: '127.0.0.1', port: 5 }), '127.0.0.1:5');
});

test('Server.create and client.connect validate endpoints before any I/O', async (t) => {
  const keys = fixtureKeys();
  t.throws(() => Server.create('nope', keys.privateKey), { instanceOf: TypeError });
  const client = Client.create(keys.publicKey);
  await t.throwsAsync(client.connect('127.0.0.1:0'), { instanceOf: RangeError });
  await t.throwsAsync(client.connect('::1:80'), { instanceOf: TypeError });
});

test('a session works end to end over [::1]:port when IPv6 loopback exists', async (t) => {
  if (!(await ipv6Available())) {
    t.log('::1 is not available on this machine: skipped');
    t.pass();
    return;
  }
  const keys = fixtureKeys();
  const server = Server.create('[::1]:0', keys.privateKey, undefined, { workers: 0 });
  await server.start();
  t.teardown(() => server.stop());
  echoSessions(server);
  t.is(server.address?.host, '::1');
  const client = Client.create(keys.publicKey);
  const session = await client.connect(`[::1]:${server.address!.port}`);
  t.is(session.remoteAddress, '::1');
  await client.write('over v6');
  t.is((await client.read())?.toString(), 'over v6');
  await client.close();
});
