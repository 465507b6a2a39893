#!/usr/bin/env bash
# The shared install step of scripts/start.sh and scripts/test.sh. Idempotent, and fast when nothing changed.
#
# On a fresh Debian machine that has only Node.js and npm (run as root, or with sudo available) it
#   1. installs Redis, ClickHouse and curl from Debian's packages when missing (scripts/services.sh install);
#   2. gets the Bun version that bun.lock pins, with npm (the `bun` package ships its binary in an optional
#      dependency, @oven/bun-<platform>, so this works even when npm skips install scripts);
#   3. installs the project's dependencies from the committed bun.lock with that Bun (`bun install`,
#      `--frozen-lockfile` under CI), which also puts the project's own Bun in node_modules/.bin/bun.
#
# bun.lock is the one lockfile: the team adds dependencies with `bun add`, and the Dockerfile installs from it too.
# A stamp in node_modules records the hash of package.json + bun.lock, so a second run does no install at all.
#
# Settings: AROUTER_SKIP_SERVICES_INSTALL=1 skips step 1.  CI=true makes a changed package.json without an
# updated bun.lock an error instead of updating bun.lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "Node.js is not installed (need node and npm on PATH)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (need node and npm on PATH)"
[ -f bun.lock ] || die "bun.lock is missing: run 'bun install' (or 'npx bun install') and commit bun.lock"

mkdir -p "$ROOT/.arouter"
# One bootstrap at a time per work tree (start.sh and test.sh may run side by side).
exec 9>"$ROOT/.arouter/bootstrap.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

# 1. System packages: Redis and ClickHouse servers (Debian's), curl.
if [ "${AROUTER_SKIP_SERVICES_INSTALL:-0}" != 1 ]; then
  bash "$ROOT/scripts/services.sh" install
fi

# 2 + 3. Bun and the npm dependencies.
STAMP="$ROOT/node_modules/.arouter-bootstrap"
BUN="$ROOT/node_modules/.bin/bun"

# The Bun version bun.lock pins: its entry reads  "bun": ["bun@1.4.5", ...
BUN_VERSION="$(sed -n 's/^ *"bun": \["bun@\([^"]*\)".*/\1/p' bun.lock | head -n1)"
[ -n "$BUN_VERSION" ] || die "bun.lock pins no 'bun' package: keep 'bun' in package.json's devDependencies"

deps_hash() { { cat package.json bun.lock; node --version; uname -sm; } | sha256sum | cut -d' ' -f1; }
bun_version_of() { "$1" --version 2>/dev/null || true; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(deps_hash)" ] && [ "$(bun_version_of "$BUN")" = "$BUN_VERSION" ]; then
  log "dependencies up to date (bun $BUN_VERSION)"
  exit 0
fi
[ -f package-lock.json ] && log "note: package-lock.json is not used (bun.lock is the lockfile)"

started=$SECONDS

# A Bun of the locked version to run the install with: the project's own when it is already there, else one
# fetched with npm into .arouter/tools (kept, so that a later bootstrap of this work tree reuses it).
installer=""
if [ "$(bun_version_of "$BUN")" = "$BUN_VERSION" ]; then
  installer="$BUN"
else
  tools="$ROOT/.arouter/tools/bun-$BUN_VERSION"
  find_tool_bun() {
    local b
    for b in "$tools/node_modules/.bin/bun" "$tools"/node_modules/@oven/bun-*/bin/bun; do
      if [ -x "$b" ] && [ "$(bun_version_of "$b")" = "$BUN_VERSION" ]; then echo "$b"; return 0; fi
    done
    return 1
  }
  if ! installer="$(find_tool_bun)"; then
    log "fetching bun $BUN_VERSION with npm"
    rm -rf "$tools"; mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION" >&2 \
      || die "npm could not install bun@$BUN_VERSION"
    # npm may have skipped the package's postinstall (install-script approval, --ignore-scripts); the binary is
    # then still in the platform package, which find_tool_bun also looks at.
    installer="$(find_tool_bun)" || die "npm installed bun@$BUN_VERSION but no working bun binary was found in $tools"
  fi
fi

if [ "${CI:-}" = true ]; then
  log "installing dependencies from bun.lock (bun install --frozen-lockfile)"
  "$installer" install --frozen-lockfile >&2 \
    || die "bun install --frozen-lockfile failed. If package.json changed, run 'bun install' and commit bun.lock with it"
else
  log "installing dependencies from bun.lock (bun install)"
  "$installer" install >&2 || die "bun install failed"
fi

# Bun normally runs the `bun` package's own postinstall, which puts the binary in node_modules/bun/bin/bun.exe.
# Where it did not, the script only links the binary that the platform package already holds (no network).
if [ "$(bun_version_of "$BUN")" != "$BUN_VERSION" ] && [ -f node_modules/bun/install.js ]; then
  log "linking Bun's binary (its postinstall script did not run)"
  (cd node_modules/bun && node install.js) >&2 || true
fi
have="$(bun_version_of "$BUN")"
[ "$have" = "$BUN_VERSION" ] \
  || die "node_modules/.bin/bun is '${have:-not working}', bun.lock pins $BUN_VERSION; retry with: rm -rf node_modules && bash scripts/bootstrap.sh"

deps_hash >"$STAMP"
log "dependencies installed in $((SECONDS - started))s (bun $have)"
