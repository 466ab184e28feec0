/**
 * Ticket-key files (`readTicketKeyFile`, `writeTicketKeyFile`, `generateTicketKey`,
 * `ticketKeyName`): the format's strict parse with errors that name the line but never
 * echo it, the private-key permission rule, atomic 0600 writes, and key names checked
 * against OpenSSL's HKDF.
 */
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { KeyErrorCode } from '@secsess/keys';
import {
  generateTicketKey,
  KeyError,
  MAX_TICKET_KEYS,
  readTicketKeyFile,
  TICKET_KEY_BYTES,
  ticketKeyName,
  writeTicketKeyFile,
} from '../src/index.js';
import { makeTempDir, runTool } from '../../keys/test/helpers/tools.js';

let dir!: string;
let cleanup!: () => Promise<void>;
test.before(async () => {
  ({ dir, cleanup } = await makeTempDir('secsess-tkeys-'));
});
test.after.always(async () => {
  await cleanup?.();
});

let counter = 0;
const fresh = (name = 'tickets'): string => join(dir, `${counter++}-${name}`);
const b64 = (key: Uint8Array): string => Buffer.from(key).toString('base64');

/** Writes `text` to a new file with mode 0600. */
async function textFile(text: string | Buffer): Promise<string> {
  const path = fresh();
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

test('generateTicketKey returns 32 fresh random bytes', (t) => {
  const a = generateTicketKey();
  const b = generateTicketKey();
  t.true(Buffer.isBuffer(a));
  t.is(a.length, TICKET_KEY_BYTES);
  t.notDeepEqual(a, b);
});

test('writes the keys atomically with mode 0600 and reads them back in order', async (t) => {
  const keys = [generateTicketKey(), generateTicketKey(), generateTicketKey()];
  // A folder of its own: the other tests of this file write theirs concurrently.
  const own = fresh('own');
  await mkdir(own);
  const path = join(own, 'tickets');
  await writeTicketKeyFile(path, keys);
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.deepEqual(await readTicketKeyFile(path), keys);
  const text = await readFile(path, 'utf8');
  t.true(text.startsWith('#'), 'a comment line says what the file is');
  t.deepEqual(
    text.split('\n').filter((line) => line !== '' && !line.startsWith('#')),
    keys.map(b64),
  );
  t.deepEqual(await readdir(own), ['tickets'], 'no temporary file left');
});

test('refuses to replace an existing file unless force is given', async (t) => {
  const path = fresh();
  const first = [generateTicketKey()];
  await writeTicketKeyFile(path, first);
  const err = await t.throwsAsync(writeTicketKeyFile(path, [generateTicketKey()]), { instanceOf: KeyError });
  t.is(err?.code, KeyErrorCode.FILE_EXISTS);
  t.deepEqual(await readTicketKeyFile(path), first);
  const second = [generateTicketKey(), ...first];
  await writeTicketKeyFile(path, second, { force: true });
  t.deepEqual(await readTicketKeyFile(path), second);
  t.is((await stat(path)).mode & 0o777, 0o600);
});

test('reads comments, blank lines, CRLF line ends and surrounding blanks, and a file without a final newline', async (t) => {
  const keys = [generateTicketKey(), generateTicketKey()];
  const path = await textFile(
    `# ticket keys\r\n\r\n   \n  ${b64(keys[0]!)}  \r\n#${b64(generateTicketKey())}\n\t${b64(keys[1]!)}`,
  );
  t.deepEqual(await readTicketKeyFile(path), keys);
});

test('accepts 16 keys and refuses a 17th, naming its line', async (t) => {
  const keys = Array.from({ length: MAX_TICKET_KEYS }, () => generateTicketKey());
  t.is((await readTicketKeyFile(await textFile(keys.map(b64).join('\n')))).length, MAX_TICKET_KEYS);
  const path = await textFile(
    ['# c', ...keys, generateTicketKey()].map((k) => (typeof k === 'string' ? k : b64(k))).join('\n'),
  );
  const err = await t.throwsAsync(readTicketKeyFile(path), { instanceOf: KeyError });
  t.is(err?.code, KeyErrorCode.FORMAT);
  t.is(err?.message, `ticket-key file ${path}: line 18 is a key past the limit of 16 keys`);
});

/** Bad lines, each at line 3 after a comment and a good key; none may be echoed. */
const BAD_LINES: Record<string, string> = {
  'a key of 31 bytes': b64(Buffer.alloc(31, 7)),
  'a key of 33 bytes': b64(Buffer.alloc(33, 7)),
  'a key of 48 bytes': b64(Buffer.alloc(48, 7)),
  'base64 without its padding': b64(Buffer.alloc(32, 9)).slice(0, 43),
  'non-canonical base64 (trailing bits set)': `${b64(Buffer.alloc(32, 0)).slice(0, 42)}B=`,
  'base64url characters': b64(Buffer.alloc(32, 0xfb)).replaceAll('+', '-').replaceAll('/', '_'),
  'hex of 32 bytes': Buffer.alloc(32, 0xab).toString('hex'),
  'a key with a trailing comment': `${b64(Buffer.alloc(32, 5))} # old`,
  'two keys on one line': `${b64(Buffer.alloc(32, 5))} ${b64(Buffer.alloc(32, 6))}`,
  'a PEM line': '-----BEGIN PRIVATE KEY-----',
  'a NUL in the key': `${b64(Buffer.alloc(32, 5)).slice(0, 20)}\0${b64(Buffer.alloc(32, 5)).slice(21)}`,
};

for (const [what, line] of Object.entries(BAD_LINES)) {
  test(`refuses ${what}, naming line 3 and not echoing it`, async (t) => {
    const path = await textFile(`# keys\n${b64(generateTicketKey())}\n${line}\n`);
    const err = await t.throwsAsync(readTicketKeyFile(path), { instanceOf: KeyError });
    t.is(err?.code, KeyErrorCode.FORMAT);
    t.is(err?.message, `ticket-key file ${path}: line 3 is not a ticket key (base64 of 32 bytes)`);
    t.false(err!.message.includes(line.trim().slice(0, 12)));
  });
}

test('refuses a repeated key, naming both lines without echoing the key', async (t) => {
  const key = b64(generateTicketKey());
  const path = await textFile(`${key}\n${b64(generateTicketKey())}\n\n${key}\n`);
  const err = await t.throwsAsync(readTicketKeyFile(path), { instanceOf: KeyError });
  t.is(err?.code, KeyErrorCode.FORMAT);
  t.is(err?.message, `ticket-key file ${path}: line 4 repeats the key of line 1`);
});

test('refuses a file with no key, an empty file and one that is not UTF-8', async (t) => {
  for (const text of ['', '\n\n', '# only a comment\n', Buffer.from([0x23, 0xff, 0xfe, 0x0a])]) {
    const path = await textFile(text);
    const err = await t.throwsAsync(readTicketKeyFile(path), { instanceOf: KeyError });
    t.is(err?.code, KeyErrorCode.FORMAT);
    t.regex(err!.message, /^ticket-key file .*: (holds no ticket key|not UTF-8 text)$/);
  }
});

test('refuses a file group or others may read, as for a private key', async (t) => {
  if (process.platform === 'win32') return t.pass('POSIX modes are not checked on Windows');
  const path = fresh();
  await writeTicketKeyFile(path, [generateTicketKey()]);
  for (const mode of [0o640, 0o604, 0o644]) {
    await chmod(path, mode);
    const err = await t.throwsAsync(readTicketKeyFile(path), { instanceOf: KeyError });
    t.is(err?.code, KeyErrorCode.PERMISSIONS);
    t.is(
      err?.message,
      `ticket-key file ${path} is accessible by group or others (mode 0${mode.toString(8)}); run \`chmod 600 ${path}\``,
    );
  }
  await chmod(path, 0o400);
  t.is((await readTicketKeyFile(path)).length, 1);
});

test('a missing file, a directory and an oversized file get the key-file codes', async (t) => {
  const missing = fresh('missing');
  t.is(
    (await t.throwsAsync(readTicketKeyFile(missing), { instanceOf: KeyError }))?.code,
    KeyErrorCode.FILE_NOT_FOUND,
  );
  t.is(
    (await t.throwsAsync(readTicketKeyFile(dir), { instanceOf: KeyError }))?.code,
    KeyErrorCode.FILE_UNREADABLE,
  );
  const big = await textFile(`${'#'.repeat(1024 * 1024)}\n${b64(generateTicketKey())}\n`);
  t.is((await t.throwsAsync(readTicketKeyFile(big), { instanceOf: KeyError }))?.code, KeyErrorCode.FORMAT);
});

test('reads through a symbolic link to a 0600 file (as a private key is read)', async (t) => {
  const keys = [generateTicketKey()];
  const target = fresh();
  await writeTicketKeyFile(target, keys);
  const link = fresh('link');
  await symlink(target, link);
  t.deepEqual(await readTicketKeyFile(link), keys);
});

test('writeTicketKeyFile checks its arguments before touching the disk', async (t) => {
  const path = fresh();
  const key = generateTicketKey();
  await t.throwsAsync(writeTicketKeyFile(path, []), {
    instanceOf: RangeError,
    message: 'keys must hold from 1 to 16 ticket keys, got 0',
  });
  await t.throwsAsync(
    writeTicketKeyFile(
      path,
      Array.from({ length: 17 }, () => generateTicketKey()),
    ),
    { instanceOf: RangeError },
  );
  await t.throwsAsync(writeTicketKeyFile(path, [key, Buffer.alloc(31)]), {
    instanceOf: TypeError,
    message: 'keys[1] must be a Uint8Array of 32 bytes',
  });
  await t.throwsAsync(writeTicketKeyFile(path, ['x'.repeat(32)] as never), { instanceOf: TypeError });
  await t.throwsAsync(writeTicketKeyFile(path, [key, Buffer.from(key)]), {
    instanceOf: TypeError,
    message: 'keys[1] repeats an earlier key',
  });
  await t.throwsAsync(writeTicketKeyFile(path, key as never), { instanceOf: TypeError });
  await t.throwsAsync(stat(path), { code: 'ENOENT' });
});

test('writes a key given as a view into a larger buffer', async (t) => {
  const backing = Buffer.concat([Buffer.alloc(5, 1), generateTicketKey(), Buffer.alloc(5, 2)]);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 5, 32);
  const path = fresh();
  await writeTicketKeyFile(path, [view]);
  t.deepEqual(await readTicketKeyFile(path), [Buffer.from(view)]);
});

test('ticketKeyName is HKDF-SHA256(K, "", "secsess v1 ticket name", 8), as OpenSSL computes it', async (t) => {
  const key = generateTicketKey();
  const openssl = await runTool('openssl', [
    'kdf',
    '-keylen',
    '8',
    '-kdfopt',
    'digest:SHA256',
    '-kdfopt',
    `hexkey:${key.toString('hex')}`,
    '-kdfopt',
    'info:secsess v1 ticket name',
    'HKDF',
  ]);
  t.is(openssl.code, 0, openssl.stderr);
  t.is(ticketKeyName(key), openssl.stdout.trim().replaceAll(':', '').toLowerCase());
  t.regex(ticketKeyName(key), /^[0-9a-f]{16}$/);
  t.not(ticketKeyName(key), ticketKeyName(generateTicketKey()));
  t.throws(() => ticketKeyName(Buffer.alloc(16)), { instanceOf: TypeError });
});
