#!/usr/bin/env bash
# What `npm start` and `npm test` run first on any machine, fresh or not: npm packages when the
# lockfile changed, then every tool and server (ops/install.ts). A second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "[setup] Node.js 20.19+ and npm are required: https://nodejs.org" >&2
  exit 1
fi

# `npm ci` installs exactly what package-lock.json records and never rewrites it. The lockfile is
# complete: `just` comes as its Linux x64 binary package (an optional dependency) rather than the
# rust-just wrapper, whose other platform packages this registry does not serve (an incomplete lock
# makes `npm ci` refuse, and `npm install` rewrites it on every fresh clone).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# npm links no command for a binary-only package: make `just` reachable for npm scripts and `npx just`.
just_bin="node_modules/rust-just-linux-x64/bin/just"
if [ -x "$just_bin" ]; then
  [ -e node_modules/.bin/just ] || ln -sf ../rust-just-linux-x64/bin/just node_modules/.bin/just
elif ! command -v just >/dev/null; then
  echo "[setup] no just binary for $(uname -s) $(uname -m) in the npm registry: install just 1.57 (cargo install just --version 1.57.0) and run again" >&2
  exit 1
fi

exec node --import tsx ops/install.ts "$@"
