#!/usr/bin/env bash
# What `npm start` and `npm test` run first on any machine, fresh or not: npm packages when the
# lockfile changed, then every tool and server (ops/install.ts). A second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "[setup] Node.js 20.19+ and npm are required: https://nodejs.org" >&2
  exit 1
fi

# `npm install`, not `npm ci`: the lockfile records only the platform packages this registry served
# (biome, deno, esbuild ship one per OS), and `npm ci` refuses a lockfile without the others.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

exec node --import tsx ops/install.ts "$@"
