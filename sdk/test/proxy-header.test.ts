/**
 * The PROXY protocol header, sans-IO (sdk/src/server/proxy-header.ts): every v1 and v2 form
 * HAProxy's proxy-protocol.txt defines that we accept (TCP4, TCP6, UNKNOWN, LOCAL, TLVs, and a
 * PROXY command for UNSPEC, UDP or AF_UNIX, taken as UNSPEC: the socket's addresses), fed
 * whole, split at every offset and byte by byte; every prefix of a valid header waits for more;
 * the refusals (bad signatures at each byte, versions, commands, families, oversize, malformed
 * v1 lines) are coded ERR_PROXY_PROTOCOL; and the v2 writer's headers parse back.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  encodeProxyHeader,
  ErrorCode,
  looksLikeProxyHeader,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_BLOCK,
  PROXY_V2_MAX_LENGTH,
  ProxyHeaderParser,
  SessionError,
} from '../src/index.js';
import type { ProxyHeader } from '../src/index.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: signature, `command` byte, `family` byte, the block (its length written before it). */
function v2(command: number, family: number, block: Buffer | number[] = []): Buffer {
  const body = Buffer.from(block);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([SIGNATURE, Buffer.from([command, family]), length, body]);
}

/** A TCP4 address block: 192.0.2.10:51234 → 198.51.100.1:443. */
const BLOCK4 = [192, 0, 2, 10, 198, 51, 100, 1, 0xc8, 0x22, 0x01, 0xbb];
/** A TCP6 address block: 2001:db8::10 port 51234 → 2001:db8::1 port 443. */
const BLOCK6 = [
  ...Buffer.from('20010db8000000000000000000000010', 'hex'),
  ...Buffer.from('20010db8000000000000000000000001', 'hex'),
  0xc8,
  0x22,
  0x01,
  0xbb,
];
/** TLVs: PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", PP2_TYPE_NOOP of 0 bytes. */
const TLVS = [0x01, 0, 2, ...Buffer.from('h2'), 0x02, 0, 11, ...Buffer.from('example.com'), 0x04, 0, 0];

const ipv4 = (address: string, port: number) => ({ address, port, family: 'IPv4' as const });
const ipv6 = (address: string, port: number) => ({ address, port, family: 'IPv6' as const });

/** Every header we accept, and what it parses to. */
const VALID: Array<{ name: string; bytes: Buffer; header: Omit<ProxyHeader, 'length'> }> = [
  {
    name: 'v1 TCP4',
    bytes: Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 51234 443\r\n'),
    header: {
      version: 1,
      addresses: { source: ipv4('192.0.2.10', 51234), destination: ipv4('198.51.100.1', 443) },
    },
  },
  {
    name: 'v1 TCP6 (addresses written back in the form a socket reports)',
    bytes: Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:10 ::FFFF:192.0.2.1 0 65535\r\n'),
    header: {
      version: 1,
      addresses: { source: ipv6('2001:db8::10', 0), destination: ipv6('::ffff:192.0.2.1', 65535) },
    },
  },
  { name: 'v1 UNKNOWN', bytes: Buffer.from('PROXY UNKNOWN\r\n'), header: { version: 1, addresses: null } },
  {
    name: 'v1 UNKNOWN with the rest of the line (ignored)',
    bytes: Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'),
    header: { version: 1, addresses: null },
  },
  {
    name: 'v1 of exactly 107 bytes',
    bytes: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 16)}\r\n`),
    header: { version: 1, addresses: null },
  },
  {
    name: 'v2 PROXY TCP4',
    bytes: v2(0x21, 0x11, BLOCK4),
    header: {
      version: 2,
      addresses: { source: ipv4('192.0.2.10', 51234), destination: ipv4('198.51.100.1', 443) },
    },
  },
  {
    name: 'v2 PROXY TCP4 with TLVs (skipped)',
    bytes: v2(0x21, 0x11, [...BLOCK4, ...TLVS]),
    header: {
      version: 2,
      addresses: { source: ipv4('192.0.2.10', 51234), destination: ipv4('198.51.100.1', 443) },
    },
  },
  {
    name: 'v2 PROXY TCP6 with TLVs',
    bytes: v2(0x21, 0x21, [...BLOCK6, ...TLVS]),
    header: {
      version: 2,
      addresses: { source: ipv6('2001:db8::10', 51234), destination: ipv6('2001:db8::1', 443) },
    },
  },
  {
    name: 'v2 PROXY with a block of exactly 1024 bytes',
    bytes: v2(0x21, 0x11, [
      ...BLOCK4,
      0x04,
      0x03,
      0xf1,
      ...new Array<number>(PROXY_V2_MAX_BLOCK - 15).fill(0),
    ]),
    header: {
      version: 2,
      addresses: { source: ipv4('192.0.2.10', 51234), destination: ipv4('198.51.100.1', 443) },
    },
  },
  {
    name: 'v2 LOCAL, UNSPEC (a health check)',
    bytes: v2(0x20, 0x00),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v2 LOCAL with an address block (ignored)',
    bytes: v2(0x20, 0x11, BLOCK4),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v2 LOCAL, AF_UNIX DGRAM (the family of a LOCAL header is ignored)',
    bytes: v2(0x20, 0x32, [1, 2, 3]),
    header: { version: 2, addresses: null },
  },
  // §2.2: a receiver falls back to UNSPEC (the socket's addresses) for the families it does not support.
  { name: 'v2 PROXY, UNSPEC (no block)', bytes: v2(0x21, 0x00), header: { version: 2, addresses: null } },
  {
    name: 'v2 PROXY, UDP over IPv4 (as UNSPEC, its block skipped)',
    bytes: v2(0x21, 0x12, BLOCK4),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v2 PROXY, UDP over IPv6 (as UNSPEC)',
    bytes: v2(0x21, 0x22, BLOCK6),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v2 PROXY, AF_UNIX STREAM with its 216-byte block (as UNSPEC)',
    bytes: v2(0x21, 0x31, new Array<number>(216).fill(0x2f)),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v2 PROXY, AF_UNIX DGRAM with a short block (as UNSPEC, nothing of it read)',
    bytes: v2(0x21, 0x32, [1, 2, 3]),
    header: { version: 2, addresses: null },
  },
  {
    name: 'v1 UNKNOWN with bytes outside printable ASCII before its CRLF (ignored)',
    bytes: Buffer.from('PROXY UNKNOWN \xe9\t\x00\r\r\n', 'latin1'),
    header: { version: 1, addresses: null },
  },
];

/** Feeds `pieces` to a new parser; the header and the stream bytes after it. */
function feed(pieces: readonly Buffer[]): { header: ProxyHeader | null; rest: Buffer } {
  const parser = new ProxyHeaderParser();
  for (let i = 0; i < pieces.length; i++) {
    const end = parser.push(pieces[i]!);
    if (end >= 0)
      return {
        header: parser.header,
        rest: Buffer.concat([pieces[i]!.subarray(end), ...pieces.slice(i + 1)]),
      };
  }
  return { header: null, rest: Buffer.alloc(0) };
}

const STREAM = Buffer.from([0x01, 0x00, 0x00, 0x05, 0x73, 0x45, 0x73, 0x53, 0x01]);

for (const { name, bytes, header } of VALID) {
  test(`${name}: parsed whole, with the stream after it left to the caller`, (t) => {
    const got = feed([Buffer.concat([bytes, STREAM])]);
    t.deepEqual(got.header, { ...header, length: bytes.length });
    t.deepEqual(got.rest, STREAM);
  });

  test(`${name}: split at every offset and byte by byte, the same header and stream`, (t) => {
    const whole = Buffer.concat([bytes, STREAM]);
    for (let at = 0; at <= whole.length; at++) {
      const got = feed([whole.subarray(0, at), whole.subarray(at)]);
      t.deepEqual(got.header, { ...header, length: bytes.length }, `split at ${at}`);
      t.deepEqual(got.rest, STREAM, `split at ${at}`);
    }
    const bytewise = feed([...whole].map((b) => Buffer.from([b])));
    t.deepEqual(bytewise.header, { ...header, length: bytes.length });
    t.deepEqual(bytewise.rest, STREAM);
  });

  test(`${name}: every truncation waits for more (never a refusal, never a header)`, (t) => {
    for (let n = 0; n < bytes.length; n++) {
      const parser = new ProxyHeaderParser();
      t.is(parser.push(bytes.subarray(0, n)), -1, `${n} bytes`);
      t.is(parser.header, null);
    }
  });
}

function refuses(
  t: ExecutionContext,
  pieces: Buffer | readonly Buffer[],
  message: RegExp,
  what?: string,
): void {
  const parser = new ProxyHeaderParser();
  const err = t.throws(
    () => {
      for (const piece of Buffer.isBuffer(pieces) ? [pieces] : pieces) parser.push(piece);
    },
    { instanceOf: SessionError, message },
    what,
  );
  t.is(err?.code, ErrorCode.PROXY_PROTOCOL, what);
}

test('a first byte that begins no signature is refused at once', (t) => {
  for (const first of [0x01, 0x03, 0x15, 0x16, 0x47, 0x00, 0x0a]) {
    refuses(
      t,
      Buffer.from([first]),
      /^PROXY header: not a PROXY protocol signature$/,
      `0x${first.toString(16)}`,
    );
  }
});

test('a v2 signature wrong at any one of its 12 bytes is refused when that byte arrives', (t) => {
  const good = v2(0x21, 0x11, BLOCK4);
  for (let i = 1; i < SIGNATURE.length; i++) {
    const bad = Buffer.from(good);
    bad[i] = bad[i]! ^ 0x20;
    const parser = new ProxyHeaderParser();
    t.is(parser.push(bad.subarray(0, i)), -1, `the ${i} bytes before it are fine`);
    t.throws(() => parser.push(bad.subarray(i, i + 1)), { code: ErrorCode.PROXY_PROTOCOL }, `byte ${i}`);
  }
});

test('a v1 signature wrong at any one of "PROXY " is refused when that byte arrives', (t) => {
  const good = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
  for (let i = 1; i < 6; i++) {
    const bad = Buffer.from(good);
    bad[i] = 0x78;
    const parser = new ProxyHeaderParser();
    t.is(parser.push(bad.subarray(0, i)), -1);
    t.throws(() => parser.push(bad.subarray(i, i + 1)), { code: ErrorCode.PROXY_PROTOCOL }, `byte ${i}`);
  }
  refuses(
    t,
    Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    /not a PROXY protocol signature/,
    'lowercase',
  );
});

test('v2: a version other than 2 and a command other than LOCAL/PROXY are refused at byte 13', (t) => {
  for (const command of [0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f]) {
    const header = v2(command, 0x11, BLOCK4);
    const parser = new ProxyHeaderParser();
    t.is(parser.push(header.subarray(0, 12)), -1);
    t.throws(() => parser.push(header.subarray(12, 13)), {
      code: ErrorCode.PROXY_PROTOCOL,
      message: /v2 (version|command)/,
    });
  }
});

test('v2 PROXY: a family/protocol byte the protocol does not define is refused at byte 14', (t) => {
  for (const family of [0x01, 0x02, 0x10, 0x20, 0x30, 0x13, 0x33, 0x41, 0x03, 0xff]) {
    const header = v2(0x21, family, BLOCK6);
    const parser = new ProxyHeaderParser();
    t.is(parser.push(header.subarray(0, 13)), -1);
    t.throws(
      () => parser.push(header.subarray(13, 14)),
      { code: ErrorCode.PROXY_PROTOCOL, message: /v2 family/ },
      `0x${family.toString(16)}`,
    );
  }
  for (const family of [0x41, 0x13, 0xf0])
    refuses(t, v2(0x20, family), /v2 family/, `LOCAL 0x${family.toString(16)}`);
});

test('v2: a length field over 1024 is refused at byte 16, before any of its block is kept', (t) => {
  const fixed = Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0x04, 0x01])]);
  const parser = new ProxyHeaderParser();
  t.is(parser.push(fixed.subarray(0, 15)), -1);
  t.throws(() => parser.push(fixed.subarray(15)), {
    code: ErrorCode.PROXY_PROTOCOL,
    message: /v2 block of 1025 bytes \(at most 1024\)/,
  });
  refuses(
    t,
    Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0xff, 0xff])]),
    /v2 block of 65535 bytes/,
    'LOCAL too',
  );
  t.is(PROXY_V2_MAX_LENGTH, 16 + 1024);
});

test("v2: a block shorter than its family's addresses, and a TLV past the block, are refused", (t) => {
  refuses(t, v2(0x21, 0x11, BLOCK4.slice(0, 11)), /short of its 12-byte addresses/);
  refuses(t, v2(0x21, 0x21, BLOCK4), /short of its 36-byte addresses/, 'TCP6 with a TCP4 block');
  refuses(t, v2(0x21, 0x11), /short of its 12-byte addresses/, 'no block');
  refuses(t, v2(0x21, 0x11, [...BLOCK4, 0x01, 0x00]), /TLV runs past the block/, 'a TLV header cut');
  refuses(
    t,
    v2(0x21, 0x11, [...BLOCK4, 0x01, 0x00, 0x03, 0x68, 0x32]),
    /TLV runs past the block/,
    'a TLV value cut',
  );
  refuses(
    t,
    v2(0x21, 0x11, [...BLOCK4, ...TLVS, 0x05]),
    /TLV runs past the block/,
    'a stray byte after the TLVs',
  );
});

test('v1: a line whose first 107 bytes hold no LF is refused then, not buffered further', (t) => {
  const long = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`);
  const parser = new ProxyHeaderParser();
  t.is(parser.push(long.subarray(0, PROXY_V1_MAX_LENGTH - 1)), -1, '106 bytes: the LF may be next');
  t.throws(() => parser.push(long.subarray(PROXY_V1_MAX_LENGTH - 1, PROXY_V1_MAX_LENGTH)), {
    code: ErrorCode.PROXY_PROTOCOL,
    message: /v1 line longer than 107 bytes/,
  });
  const cr = `PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 16)}\r`;
  t.is(new ProxyHeaderParser().push(Buffer.from(cr)), -1, '106 bytes ending in CR: the LF may be the 107th');
  refuses(
    t,
    Buffer.from(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_LENGTH - 15)}\r\n`),
    /longer than 107/,
    '108 with its CRLF',
  );
  refuses(t, Buffer.concat([long, Buffer.from('\r\n')]), /longer than 107/, 'in one chunk');
});

test('v1: malformed lines are refused', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n', /does not end with CRLF/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n', /outside printable ASCII/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1\t2\r\n', /outside printable ASCII/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n', /malformed/],
    ['PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n', /malformed/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n', /malformed/],
    ['PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n', /malformed/],
    ['PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n', /malformed/],
    ['PROXY \r\n', /malformed/],
    ['PROXY UNKNOWNX\r\n', /malformed/],
    ['PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n', /address is not IPv4/],
    ['PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n', /address is not IPv4/],
    ['PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n', /address is not IPv4/],
    ['PROXY TCP4 192.0.2 192.0.2.2 1 2\r\n', /address is not IPv4/],
    ['PROXY TCP6 192.0.2.1 ::1 1 2\r\n', /address is not IPv6/],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /address is not IPv6/],
    ['PROXY TCP6 1::2::3 ::1 1 2\r\n', /address is not IPv6/],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', /address is not IPv6/],
    ['PROXY TCP6 12345::1 ::1 1 2\r\n', /address is not IPv6/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n', /port malformed/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n', /port malformed/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n', /port malformed/],
    ['PROXY TCP4 192.0.2.1 192.0.2.2 1 +2\r\n', /port malformed/],
  ];
  for (const [line, message] of cases) refuses(t, Buffer.from(line, 'latin1'), message, JSON.stringify(line));
  refuses(
    t,
    Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\xe9\r\n', 'latin1'),
    /outside printable ASCII/,
    'a Latin-1 byte',
  );
});

test('push() after the header was read is a coded state error', (t) => {
  const parser = new ProxyHeaderParser();
  t.is(parser.push(v2(0x20, 0)), 16);
  t.throws(() => parser.push(Buffer.from([1])), { code: ErrorCode.INVALID_STATE });
});

test('looksLikeProxyHeader: any prefix of either signature, never a secsess frame or other protocols', (t) => {
  for (let n = 1; n <= 12; n++) t.true(looksLikeProxyHeader(SIGNATURE.subarray(0, n)), `v2, ${n} bytes`);
  for (let n = 1; n <= 6; n++)
    t.true(looksLikeProxyHeader(Buffer.from('PROXY '.slice(0, n))), `v1, ${n} bytes`);
  t.true(looksLikeProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')));
  t.true(looksLikeProxyHeader(v2(0x21, 0x11, BLOCK4)));
  for (const other of [[], [0x01, 0, 0, 5], [0x03, 0, 1, 0], [0x15, 0, 0, 2], [0x0d, 0x0a, 0x0d, 0x0b]]) {
    t.false(looksLikeProxyHeader(Buffer.from(other)), JSON.stringify(other));
  }
  t.false(looksLikeProxyHeader(Buffer.from('PRI * HTTP/2.0\r\n')), 'the HTTP/2 preface');
  t.false(looksLikeProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')));
});

test('encodeProxyHeader over IPv4: signature, PROXY command, TCP4, 12-byte block, addresses then ports', (t) => {
  const header = encodeProxyHeader(
    { address: '192.0.2.10', port: 51234 },
    { address: '198.51.100.1', port: 443 },
  );
  t.deepEqual(header, v2(0x21, 0x11, BLOCK4));
});

test('encodeProxyHeader over IPv6, and a mixed or IPv4-mapped pair', (t) => {
  t.deepEqual(
    encodeProxyHeader({ address: '2001:db8::10', port: 51234 }, { address: '2001:db8::1', port: 443 }),
    v2(0x21, 0x21, BLOCK6),
  );
  const mapped = encodeProxyHeader(
    { address: '::ffff:192.0.2.10', port: 51234 },
    { address: '::FFFF:198.51.100.1', port: 443 },
  );
  t.deepEqual(mapped, v2(0x21, 0x11, BLOCK4), 'both IPv4-mapped: TCP4');
  const mixed = encodeProxyHeader({ address: '192.0.2.10', port: 1 }, { address: 'fe80::1%eth0', port: 2 });
  t.is(mixed[13], 0x21);
  t.deepEqual(feed([mixed]).header?.addresses, {
    source: ipv6('::ffff:192.0.2.10', 1),
    destination: ipv6('fe80::1', 2),
  });
});

test('encodeProxyHeader refuses names and bad ports', (t) => {
  t.throws(() => encodeProxyHeader({ address: 'example.com', port: 1 }, { address: '::1', port: 2 }), {
    instanceOf: TypeError,
    message: 'not an IP address: example.com',
  });
  t.throws(() => encodeProxyHeader({ address: '::1', port: 65536 }, { address: '::1', port: 2 }), {
    instanceOf: RangeError,
  });
  t.throws(() => encodeProxyHeader({ address: '::1', port: 1.5 }, { address: '::1', port: 2 }), {
    instanceOf: RangeError,
  });
});

test('every header the writer makes parses back to its addresses', (t) => {
  const pairs: Array<[string, string]> = [
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '255.255.255.255'],
    ['::1', '::'],
    ['2001:db8:1:2:3:4:5:6', 'fe80::abcd'],
    ['::ffff:10.1.2.3', '::ffff:10.0.0.1'],
  ];
  for (const [source, destination] of pairs) {
    for (const [sp, dp] of [
      [0, 65535],
      [51234, 7000],
    ] as const) {
      const got = feed([
        encodeProxyHeader({ address: source, port: sp }, { address: destination, port: dp }),
      ]).header!;
      const unmapped = (a: string): string => a.replace(/^::ffff:/, '');
      t.is(got.addresses?.source.address, source.includes('.') ? unmapped(source) : source);
      t.is(
        got.addresses?.destination.address,
        destination.includes('.') ? unmapped(destination) : destination,
      );
      t.is(got.addresses?.source.port, sp);
      t.is(got.addresses?.destination.port, dp);
    }
  }
});
