import { readFile } from 'node:fs/promises';
import test from 'ava';
import { assertBuilt, BIN, BUNDLE } from './helpers/cli.js';

test.before(() => {
  assertBuilt();
});

test('the bin is a two-line shim that imports the bundle', async (t) => {
  const text = await readFile(BIN, 'utf8');
  t.deepEqual(text.trimEnd().split('\n'), ['#!/usr/bin/env node', "import '../dist/secsess-keygen.js';"]);
});

test("the bundle carries node-rsa's Node build, not its pure-JS browser build", async (t) => {
  const text = await readFile(BUNDLE, 'utf8');
  t.true(text.includes('node_modules/node-rsa/dist/index.node.js'));
  t.false(text.includes('node_modules/node-rsa/dist/index.browser.js'));
  t.true(text.startsWith("import { createRequire as __secsessCreateRequire } from 'node:module';"));
});

test('importing the library entry has no side effects', async (t) => {
  const before = process.exitCode;
  const cli = await import('@secsess/cli');
  t.is(typeof cli.run, 'function');
  t.is(typeof cli.buildParser, 'function');
  t.is(process.exitCode, before);
});
