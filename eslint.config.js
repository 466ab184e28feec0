// ESLint flat config (a config file, so a default export is the convention).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'cli/build.mjs', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' },
      ],
    },
  },
  {
    files: ['sdk/src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:net',
            'node:stream',
            'node:timers',
            'node:process',
            'node:fs',
            'node:worker_threads',
            'node:dgram',
          ],
          // The core imports nothing above it (stream/, server/, client/, common/).
          patterns: [{ group: ['../*'], message: 'protocol/ imports nothing from outside protocol/.' }],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'setTimeout', 'setInterval', 'setImmediate'],
    },
  },
  {
    // protocol/datagram/ is part of the core: it may import protocol/ (one level up), nothing above.
    files: ['sdk/src/protocol/datagram/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'node:net',
            'node:stream',
            'node:timers',
            'node:process',
            'node:fs',
            'node:worker_threads',
            'node:dgram',
          ],
          patterns: [{ group: ['../../*'], message: 'protocol/ imports nothing from outside protocol/.' }],
        },
      ],
    },
  },
  {
    // Imports run one way: common/ is shared by every side and imports none of them.
    files: ['sdk/src/common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../stream/*', '../server/*', '../client/*', '../index.js'],
              message: 'common/ imports only protocol/ and itself.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['eslint.config.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // @secsess/native's loader: CommonJS, as require() is how a .node addon loads.
    files: ['native/**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
