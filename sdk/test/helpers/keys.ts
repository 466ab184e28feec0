/** Keys for the transport tests: the protocol fixtures (fast) and real key files in a temp dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyPair } from '@secsess/keys';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import { fixturePrivateKey, fixturePublicKey } from './protocol-pair.js';

export interface TestKeys {
  readonly privateKey: PrivateKey;
  readonly publicKey: PublicKey;
}

/** The 2048-bit fixture pair `name` ('server-2048', 'other-2048', 'client-2048'). */
export function fixtureKeys(name = 'server-2048'): TestKeys {
  return { privateKey: fixturePrivateKey(name), publicKey: fixturePublicKey(name) };
}

/** A fresh 2048-bit pair saved as real files (`server.key` 0600, `server.pub`) in a new temp dir. */
export async function keyFiles(): Promise<{
  dir: string;
  key: string;
  pub: string;
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'secsess-test-'));
  const pair = await KeyPair.generateRSA({ bits: 2048 });
  const key = join(dir, 'server.key');
  const pub = join(dir, 'server.pub');
  await pair.privateKey.save(key);
  await pair.publicKey.save(pub);
  return { dir, key, pub, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
