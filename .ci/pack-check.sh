#!/usr/bin/env bash
# CI: the packages as a user gets them. Packs @secsess/keys, @secsess/native, @secsess/sdk
# and @secsess/cli (each `prepack` builds, so this works from a clean clone), checks what each
# tarball holds, installs the four tarballs into an empty folder outside the repository
# (their dependencies come from the npm registry; @secsess/native is compiled there, as on a
# user's machine), compiles .ci/pack-check/app.ts there with `tsc --strict` (NodeNext, no
# skipLibCheck) against the installed types, runs it (a Server on 127.0.0.1:0, a Client, one
# echoed message), and runs the installed `secsess-keygen` and `secsess`; the app and a
# ChaCha20-Poly1305 tunnel run on each AEAD backend in turn: with the optional
# @secsess/native, without it (sodium-native), and without either (node:crypto).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/secsess-pack-check.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
fail() { echo "pack-check: $*" >&2; exit 1; }

cd "$root"
npm pack -w keys -w native -w sdk -w cli --pack-destination "$tmp" --loglevel=error >/dev/null
native_tgz="$tmp/secsess-native-$(node -p "require('./native/package.json').version").tgz"
[ -f "$native_tgz" ] || fail "npm pack made no $native_tgz"
native_list="$(tar tzf "$native_tgz")"
for want in package/LICENSE package/README.md package/package.json package/binding.gyp package/src/aead.c package/index.cjs package/index.d.cts; do
  grep -qx "$want" <<<"$native_list" || fail "@secsess/native: the tarball has no ${want#package/}"
done
# Built on the user's machine, never shipped: a prebuilt addon would be for another Node.
if grep -E '^package/build/' <<<"$native_list"; then fail "@secsess/native: the tarball ships a build (above)"; fi
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
# @secsess/native and sodium-native are optional dependencies of @secsess/sdk: both installed
# here (the first compiled by npm), so both ciphers run on @secsess/native; the app runs again
# (and the tunnel below) once each is removed.
[ -f node_modules/@secsess/native/build/Release/secsess_aead.node ] || fail "npm did not build @secsess/native"
[ -d node_modules/sodium-native ] || fail "npm did not install the optional dependency sodium-native"
PACK_CHECK_GCM=@secsess/native PACK_CHECK_CHACHA=@secsess/native node dist/app.js

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

# A ChaCha20-Poly1305 tunnel through the installed `secsess` (serve --stdio --once, connect's
# stdin to serve's stdout), on @secsess/native, then sodium-native, then node:crypto: the
# NODE_DEBUG line of connect must name the backend ($1) and connect's extra flags are $2….
tunnel_check() {
  local backend="$1"; shift
  NODE_DEBUG=secsess "$tunnel" serve --listen 127.0.0.1:0 --key keys/pack-check.key --stdio --once \
    --symmetric chacha20-poly1305 </dev/null >served 2>serve.log &
  local pid=$! port=""
  for _ in $(seq 100); do
    port="$(sed -n 's/^secsess: listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.log)"
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "secsess serve did not listen: $(cat serve.log)"
  echo "through the installed tunnel" | NODE_DEBUG=secsess "$tunnel" connect "127.0.0.1:$port" \
    --server-pub keys/pack-check.pub "$@" >/dev/null 2>connect.log || fail "secsess connect: $(cat connect.log)"
  wait "$pid" || fail "secsess serve --once exited with $?: $(cat serve.log)"
  [ "$(cat served)" = "through the installed tunnel" ] || fail "the tunnel delivered '$(cat served)'"
  grep -q "chacha20-poly1305 $backend" connect.log || fail "connect's backend is not $backend: $(grep crypto connect.log)"
  grep -q "chacha20-poly1305 $backend" serve.log || fail "serve's backend is not $backend: $(grep crypto serve.log)"
}
# On @secsess/native connect asks for AES-256-GCM by default; with only sodium-native, for
# ChaCha20-Poly1305.
tunnel_check '@secsess/native' --symmetric chacha20-poly1305
rm -rf "$tmp/app/node_modules/@secsess/native"
(cd "$tmp/app" && PACK_CHECK_GCM=node:crypto PACK_CHECK_CHACHA=sodium-native node dist/app.js) ||
  fail "the app without @secsess/native"
tunnel_check sodium-native
rm -rf "$tmp/app/node_modules/sodium-native"
(cd "$tmp/app" && PACK_CHECK_GCM=node:crypto PACK_CHECK_CHACHA=node:crypto node dist/app.js) ||
  fail "the app without sodium-native"
tunnel_check 'node:crypto (@secsess/native is not installed (or was not built); sodium-native is not installed)' \
  --symmetric chacha20-poly1305

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
