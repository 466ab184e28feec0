import test from 'ava';
import { classifyDer } from '../src/der.js';
import { formatFingerprint } from '../src/fingerprint.js';
import { parseOpenSshPublicLine } from '../src/openssh.js';
import { parseSshPublicBlob, rsaPublicBlob, sshMpint, sshString } from '../src/ssh-wire.js';

test('mpint adds a zero byte when the top bit is set, and strips redundant zeros', (t) => {
  t.deepEqual(sshMpint(Buffer.from([0x80])), Buffer.from([0, 0, 0, 2, 0x00, 0x80]));
  t.deepEqual(sshMpint(Buffer.from([0x00, 0x00, 0x7f])), Buffer.from([0, 0, 0, 1, 0x7f]));
  t.deepEqual(sshMpint(Buffer.from([0x01, 0x00, 0x01])), Buffer.from([0, 0, 0, 3, 1, 0, 1]));
  t.deepEqual(sshMpint(Buffer.from([0x00])), Buffer.from([0, 0, 0, 0]));
});

test('an RSA blob round-trips through the parser', (t) => {
  const n = Buffer.alloc(256, 0xc3);
  const e = Buffer.from([1, 0, 1]);
  const blob = rsaPublicBlob(n, e);
  t.deepEqual(blob.subarray(0, 11), sshString(Buffer.from('ssh-rsa')));
  const parsed = parseSshPublicBlob(blob);
  t.is(parsed?.type, 'ssh-rsa');
  t.deepEqual(parsed?.n, n);
  t.deepEqual(parsed?.e, e);
});

test('the blob parser refuses trailing bytes, truncation and negative integers', (t) => {
  const blob = rsaPublicBlob(Buffer.alloc(256, 0xc3), Buffer.from([1, 0, 1]));
  t.is(parseSshPublicBlob(Buffer.concat([blob, Buffer.of(0)])), undefined);
  for (let cut = 0; cut < blob.length; cut++)
    t.is(parseSshPublicBlob(blob.subarray(0, cut)), undefined, `cut ${cut}`);
  const negative = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshString(Buffer.of(0x81)),
    sshString(Buffer.of(5)),
  ]);
  t.is(parseSshPublicBlob(negative), undefined);
});

test('other key types are reported by name, without n and e', (t) => {
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(Buffer.alloc(32))]);
  t.deepEqual(parseSshPublicBlob(blob), { type: 'ssh-ed25519' });
});

test('an OpenSSH line whose base64 was cut is refused', (t) => {
  const blob = rsaPublicBlob(Buffer.alloc(256, 0xc3), Buffer.from([1, 0, 1]));
  const b64 = blob.toString('base64');
  t.truthy(parseOpenSshPublicLine(`ssh-rsa ${b64} c`));
  t.is(parseOpenSshPublicLine(`ssh-rsa ${b64.slice(0, -3)} c`), undefined);
  t.is(parseOpenSshPublicLine('ssh-rsa'), undefined);
});

test('fingerprints are formatted as OpenSSH prints them', (t) => {
  t.is(formatFingerprint(Buffer.alloc(32)), 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
});

test('DER classification needs one complete SEQUENCE of a known shape', (t) => {
  t.is(classifyDer(Buffer.from([0x30, 0x00])), undefined);
  t.is(classifyDer(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03])), 'pkcs1-public');
  t.is(classifyDer(Buffer.from([0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03, 0x00])), undefined);
  t.is(classifyDer(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02])), undefined);
  t.is(
    classifyDer(Buffer.from([0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00])),
    undefined,
    'indefinite length is not DER',
  );
});
