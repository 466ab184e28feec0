// Bundles each command into one file: cli/dist/secsess-keygen.js (loaded by
// cli/bin/secsess-keygen.js) and cli/dist/secsess.js (loaded by cli/bin/secsess.js).
// Run after `tsc -b` (the root `build` script does both): workspace packages resolve to dist/.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const bundles = [
  { entry: join(here, 'src', 'bin.ts'), out: join(here, 'dist', 'secsess-keygen.js') },
  { entry: join(here, 'src', 'tunnel', 'bin.ts'), out: join(here, 'dist', 'secsess.js') },
];

await Promise.all(
  bundles.map(({ entry, out }) =>
    build({
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      // platform 'node' makes esbuild pick the "node" export conditions: without it node-rsa
      // resolves to its browser build and silently uses its pure-JS engine.
      platform: 'node',
      format: 'esm',
      target: 'node20',
      sourcemap: true,
      logLevel: 'warning',
      // A native addon cannot be bundled: @secsess/sdk requires @secsess/native and
      // sodium-native (its optional dependencies) at run time with createRequire, which in
      // this bundle resolves from cli/dist — so both are optional dependencies of @secsess/cli
      // too, and npm puts them where the bundle finds them even when it nests the sdk's copy.
      // When they are absent the sdk falls back to node:crypto. Named here so a static require
      // of either can never be pulled in.
      external: ['sodium-native', '@secsess/native'],
      // Bundled CommonJS dependencies call require(); ESM output has none, so provide one.
      banner: {
        js: "import { createRequire as __secsessCreateRequire } from 'node:module';\nconst require = __secsessCreateRequire(import.meta.url);",
      },
    }),
  ),
);
