#!/usr/bin/env bash
# CI: the packages as a user gets them. Packs @secsess/keys, @secsess/sdk and @secsess/cli
# (each `prepack` builds, so this works from a clean clone), checks what each tarball holds,
# installs the three tarballs into an empty folder outside the repository (their
# dependencies come from the npm registry), compiles .ci/pack-check/app.ts there with
# `tsc --strict` (NodeNext, no skipLibCheck) against the installed types, runs it (a Server
# on 127.0.0.1:0, a Client, one echoed message), and runs the installed `secsess-keygen`
# and `secsess`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/secsess-pack-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
fail() { echo "pack-check: $*" >&2; exit 1; }

cd "$root"
npm pack -w keys -w sdk -w cli --pack-destination "$tmp" --loglevel=error >/dev/null
for name in keys sdk cli; do
  tgz="$tmp/secsess-$name-$(node -p "require('./$name/package.json').version").tgz"
  [ -f "$tgz" ] || fail "npm pack made no $tgz"
  list="$(tar tzf "$tgz")"
  for want in package/LICENSE package/README.md package/package.json package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$want" <<<"$list" || fail "@secsess/$name: the tarball has no ${want#package/}"
  done
  if grep -E '(^package/test/|\.test\.|tsbuildinfo$)' <<<"$list"; then
    fail "@secsess/$name: the tarball ships tests or build info (above)"
  fi
done
for bundle in secsess-keygen secsess; do
  grep -qx "package/dist/$bundle.js" <<<"$(tar tzf "$tmp"/secsess-cli-*.tgz)" || fail "@secsess/cli: no bundled $bundle"
done

mkdir "$tmp/app"
cp .ci/pack-check/app.ts .ci/pack-check/tsconfig.json "$tmp/app/"
cd "$tmp/app"
echo '{ "name": "pack-check", "private": true, "type": "module" }' >package.json
# @types/node as a user would add it; the compiler is the repository's (the same tsc).
npm install --no-save --loglevel=error "$tmp"/secsess-*.tgz "@types/node@^20" >/dev/null
[ ! -L node_modules/@secsess/sdk ] || fail "@secsess/sdk is a link, not the installed tarball"
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json || fail "app.ts does not compile against the installed types"
node dist/app.js

# The installed bin, from another working directory.
bin="$tmp/app/node_modules/.bin/secsess-keygen"
mkdir "$tmp/work" && cd "$tmp/work"
version="$("$bin" --version)"
[ "$version" = "$(node -p "require('$root/cli/package.json').version")" ] || fail "secsess-keygen --version printed '$version'"
"$bin" generate -b 2048 -o keys/pack-check >/dev/null
[ "$(stat -c %a keys/pack-check.key)" = 600 ] || fail "the generated private key is not 0600"
fp="$("$bin" fingerprint keys/pack-check.pub)"
[[ "$fp" == *SHA256:* ]] || fail "secsess-keygen fingerprint printed '$fp'"
tunnel="$tmp/app/node_modules/.bin/secsess"
[ "$("$tunnel" --version)" = "$version" ] || fail "secsess --version is not $version"
"$tunnel" serve --help | grep -q -- '--forward' || fail "secsess serve --help does not list --forward"

# Internal names that must not be in the public types (sdk/tsconfig.json strips `@internal`
# declarations): in every .d.ts a package's exported entries reach. Fatal unless
# PACK_CHECK_STRICT_TYPES=0 (then only reported).
mapfile -t public_dts < <(node "$root/.ci/pack-check/public-dts.mjs" "$tmp"/app/node_modules/@secsess/*)
[ "${#public_dts[@]}" -gt 3 ] || fail "found no public .d.ts files"
internal="$(grep -Eow 'kReady|kFail|kHelloReceived|kAbortHandshake|kOnClosed|kListenerRejected|SessionInit|ResolvedSessionOptions|createSession|keyProbeOf' "${public_dts[@]}" | sed "s|^$tmp/app/node_modules/||" | sort | uniq -c || true)"
if [ -n "$internal" ]; then
  printf 'pack-check: note: internal names in the installed .d.ts files:\n%s\n' "$internal" >&2
  [ "${PACK_CHECK_STRICT_TYPES:-1}" = 0 ] || fail "internal names in the public types (above)"
fi
echo "pack-check: ok (secsess-keygen $version)"
