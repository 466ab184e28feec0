// The parts of @hyperswarm/secret-stream (which ships no types) that the bench uses.
declare module '@hyperswarm/secret-stream' {
  import { EventEmitter } from 'node:events';

  namespace NoiseSecretStream {
    interface SecretStreamKeyPair {
      readonly publicKey: Buffer;
      readonly secretKey: Buffer;
    }
  }

  class NoiseSecretStream extends EventEmitter {
    constructor(
      isInitiator: boolean,
      rawStream?: unknown,
      options?: { readonly keyPair?: NoiseSecretStream.SecretStreamKeyPair },
    );
    static keyPair(seed?: Buffer): NoiseSecretStream.SecretStreamKeyPair;
    write(data: Buffer): boolean;
    end(): void;
    destroy(error?: Error): void;
  }

  export = NoiseSecretStream;
}
