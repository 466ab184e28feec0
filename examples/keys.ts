import { mkdir } from 'node:fs/promises';
import { KeyPair, PrivateKey, PublicKey } from '@secsess/keys';

await mkdir('secrets', { recursive: true, mode: 0o700 }); // outside your source tree; .gitignore'd
const pair = await KeyPair.generateRSA({ bits: 3072 });
await pair.save('secrets/server'); // never overwrites without { force: true }
await pair.save('secrets/backup', { passphrase: 'correct horse' }); // PKCS#8, scrypt + AES-256-CBC
const key = await PrivateKey.load('secrets/backup.key', { passphrase: 'correct horse' });
const pub = await PublicKey.load('secrets/server.pub');
console.log(key.fingerprint(), key.fingerprint() === pub.fingerprint()); // SHA256:… true
