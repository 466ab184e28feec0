// Prints the .d.ts files a user's types can reach: from each package's exported entries
// (package.json "exports" types), following relative imports and re-exports. Files only
// internal modules import (the session's parts, the vault) are not part of the public
// types, so the pack check looks for internal names in these files only.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const seen = new Set();
function visit(file) {
  if (seen.has(file) || !existsSync(file)) return;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    visit(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
  }
}
for (const dir of process.argv.slice(2)) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const entries = pkg.exports
    ? Object.values(pkg.exports).map((e) => (typeof e === 'string' ? e : e.types))
    : [];
  for (const entry of [pkg.types, ...entries]) if (entry) visit(resolve(dir, entry));
}
console.log([...seen].join('\n'));
