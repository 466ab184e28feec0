import { KeyPair, PrivateKey, PublicKey } from '@secsess/keys';

const pair = await KeyPair.generateRSA({ bits: 3072 });
await pair.save('secrets/server'); // makes secrets/ (0700); never overwrites without { force: true }
await pair.save('secrets/backup', { passphrase: 'correct horse' }); // PKCS#8, scrypt + AES-256-CBC
const key = await PrivateKey.load('secrets/backup.key', { passphrase: 'correct horse' });
const pub = await PublicKey.load('secrets/server.pub');
console.log(key.fingerprint(), key.fingerprint() === pub.fingerprint()); // SHA256:… true
