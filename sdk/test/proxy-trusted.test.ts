/**
 * Who may send a PROXY header: the address literals (common/ip-address.ts: strict parsing,
 * and IPv6 text exactly as Node's sockets report it), the trusted-address matcher (addresses
 * and CIDRs, IPv4 and IPv6, IPv4-mapped) and the validation of `proxyProtocol`.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import test from 'ava';
import { TrustedAddresses } from '../src/index.js';
import { formatIPv6, parseIPv4, parseIPv6 } from '../src/common/ip-address.js';
import { resolveServerOptions } from '../src/server/server-options.js';

/** What libuv's inet_ntop (a socket's remoteAddress) writes for `bytes`. */
function nodeText(bytes: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return new SocketAddress({ address: words.join(':'), family: 'ipv6' }).address;
}

test('IPv6 bytes are written as a socket reports them: zero runs, embedded IPv4 forms, ties', (t) => {
  const fixed = [
    '::',
    '::1',
    '::2',
    '::1.2.3.4',
    '::ffff:1.2.3.4',
    '::ffff:0:1.2.3.4',
    '1::',
    '1:0:0:1:0:0:0:1',
    '1:0:0:0:1:0:0:1',
    'fe80::1:0:0:0',
    '2001:db8::1',
    '2001:db8:0:1:1:1:1:1',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    '0:0:0:0:0:1:0:0',
  ];
  for (const text of fixed) {
    const bytes = parseIPv6(text)!;
    t.is(formatIPv6(bytes), nodeText(bytes), text);
  }
  // Random words, with zero runs made likely (each word zero half the time).
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(randomBytes(16));
    const zeros = randomBytes(1)[0]!;
    for (let w = 0; w < 8; w++) if (zeros & (1 << w)) bytes[2 * w] = bytes[2 * w + 1] = 0;
    if (i % 7 === 0) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    t.is(formatIPv6(bytes), nodeText(bytes));
  }
});

test('address literals are parsed strictly: what node:net calls an IP, less the ambiguous forms', (t) => {
  for (const good of ['0.0.0.0', '255.255.255.255', '192.0.2.1', '10.0.0.10'])
    t.truthy(parseIPv4(good), good);
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.256',
    '1.2.3.-1',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '0x1.2.3.4',
    '1..3.4',
  ]) {
    t.is(parseIPv4(bad), null, JSON.stringify(bad));
  }
  const v6 = [
    '::',
    '::1',
    '1::',
    '2001:db8::1',
    '1:2:3:4:5:6:7:8',
    '::ffff:1.2.3.4',
    '1:2:3:4:5:6:1.2.3.4',
    'ABCD::ef',
    '1::2:3:4:5:6:7',
  ];
  for (const good of v6) {
    t.truthy(parseIPv6(good), good);
    t.true(isIPv6(good), `node agrees: ${good}`);
  }
  const bad6 = [
    '',
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    'g::',
    '::1.2.3',
    '1.2.3.4::',
    '::1.2.3.4:1',
    'fe80::1%eth0',
    ':1::',
    '1::2:3:4:5:6:7:8',
    '::01.2.3.4',
  ];
  for (const bad of bad6) t.is(parseIPv6(bad), null, JSON.stringify(bad));
  for (const text of ['1.2.3.4', '::1']) t.true(isIPv4(text) || isIPv6(text));
});

test('trusted addresses: exact addresses, CIDR blocks, IPv4 entries matching IPv4-mapped socket addresses', (t) => {
  const trusted = new TrustedAddresses(['10.0.0.0/8', '192.0.2.7', '2001:db8:abcd::/48', '::1', 'fe80::/10']);
  const yes = [
    '10.0.0.1',
    '10.255.255.255',
    '::ffff:10.1.2.3',
    '192.0.2.7',
    '::FFFF:192.0.2.7',
    '2001:db8:abcd:1::5',
    '::1',
    'fe80::1%eth0',
    'febf::1',
  ];
  const no = [
    '11.0.0.1',
    '9.255.255.255',
    '192.0.2.8',
    '::ffff:192.0.2.8',
    '2001:db8:abce::1',
    '::2',
    'fec0::1',
    '',
    'localhost',
    undefined,
  ];
  for (const address of yes) t.true(trusted.has(address), String(address));
  for (const address of no) t.false(trusted.has(address), String(address));
  t.deepEqual(trusted.entries, ['10.0.0.0/8', '192.0.2.7', '2001:db8:abcd::/48', '::1', 'fe80::/10']);
});

test('trusted addresses: prefix bits are compared bit by bit, host bits in an entry are ignored', (t) => {
  const v4 = new TrustedAddresses(['172.16.5.9/12']);
  t.true(v4.has('172.16.0.0'));
  t.true(v4.has('172.31.255.255'));
  t.false(v4.has('172.32.0.0'));
  t.false(v4.has('172.15.255.255'));
  const v6 = new TrustedAddresses(['2001:db8::/33']);
  t.true(v6.has('2001:db8:7fff::1'));
  t.false(v6.has('2001:db8:8000::1'));
  const all4 = new TrustedAddresses(['0.0.0.0/0']);
  t.true(all4.has('203.0.113.1'));
  t.true(all4.has('::ffff:203.0.113.1'));
  t.false(all4.has('2001:db8::1'), 'IPv4 /0 is all of IPv4, not IPv6');
  const all = new TrustedAddresses(['::/0']);
  t.true(all.has('2001:db8::1'));
  t.true(all.has('203.0.113.1'), 'IPv6 /0 includes the mapped IPv4 space');
  const mapped = new TrustedAddresses(['::ffff:10.0.0.0/104']);
  t.true(mapped.has('10.9.9.9'), 'an IPv4-mapped entry matches the IPv4 address');
});

test('trusted addresses: a bad list is a TypeError naming the entry, too long a list a RangeError', (t) => {
  for (const bad of [
    'example.com',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/08',
    '10.0.0.0/',
    '/8',
    '10.0.0.1 ',
    '',
    'fe80::1%eth0',
    '10.0.0.0/-1',
  ]) {
    t.throws(
      () => new TrustedAddresses(['10.0.0.1', bad], 'proxyProtocol.trusted'),
      {
        instanceOf: TypeError,
        message: 'proxyProtocol.trusted[1] must be an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)',
      },
      JSON.stringify(bad),
    );
  }
  t.throws(() => new TrustedAddresses([7 as unknown as string]), {
    instanceOf: TypeError,
    message: /trusted\[0\]/,
  });
  t.throws(() => new TrustedAddresses([]), {
    instanceOf: TypeError,
    message: 'trusted must list at least one address or CIDR',
  });
  t.throws(() => new TrustedAddresses('10.0.0.1' as unknown as string[]), {
    instanceOf: TypeError,
    message: /must be an array/,
  });
  t.throws(() => new TrustedAddresses(new Array<string>(1025).fill('10.0.0.1')), {
    instanceOf: RangeError,
    message: 'trusted must have at most 1024 entries, got 1025',
  });
});

test('proxyProtocol is validated with the other server options; timeout defaults to handshakeTimeout', (t) => {
  t.is(resolveServerOptions({}).proxyProtocol, null);
  const on = resolveServerOptions({
    handshakeTimeout: 3000,
    proxyProtocol: { trusted: ['127.0.0.1'] },
  }).proxyProtocol!;
  t.is(on.timeout, 3000);
  t.true(on.trusted.has('127.0.0.1'));
  t.is(
    resolveServerOptions({ proxyProtocol: { trusted: ['::1'], timeout: 250 } }).proxyProtocol!.timeout,
    250,
  );
  t.throws(() => resolveServerOptions({ proxyProtocol: 'yes' as never }), {
    instanceOf: TypeError,
    message: 'proxyProtocol must be an object',
  });
  t.throws(() => resolveServerOptions({ proxyProtocol: {} as never }), {
    instanceOf: TypeError,
    message: /proxyProtocol.trusted must be an array/,
  });
  t.throws(() => resolveServerOptions({ proxyProtocol: { trusted: ['x'] } }), {
    instanceOf: TypeError,
    message: /proxyProtocol.trusted\[0\]/,
  });
  t.throws(() => resolveServerOptions({ proxyProtocol: { trusted: ['::1'], timeout: 0 } }), {
    instanceOf: RangeError,
    message: 'proxyProtocol.timeout must be from 1 to 2147483647, got 0',
  });
  t.throws(() => resolveServerOptions({ proxyProtocol: { trusted: ['::1'], timeout: 1.5 } }), {
    instanceOf: TypeError,
    message: 'proxyProtocol.timeout must be an integer',
  });
});
