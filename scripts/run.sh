#!/usr/bin/env bash
# Runs a command with the project's toolchain on a fresh machine: Node 24 (when the machine's
# Node is older than 22) and pnpm, both from the npm registry into .tools/, then the
# dependencies from the lockfile. Local services on their standard ports are offered to the
# test kit through ENTENTE_TEST_*_URL unless those are already set.
#
#   scripts/run.sh pnpm entente serve all
#   scripts/run.sh pnpm test
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
pnpm_version="12.21.0"
cd "$root"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$tools/node_modules/.bin/node" ]; then
  export PATH="$tools/node_modules/.bin:$PATH"
fi
if [ "$(node_major)" -lt 22 ]; then
  command -v npm >/dev/null || { echo "scripts/run.sh: npm is needed to install Node 24" >&2; exit 1; }
  echo "scripts/run.sh: Node $(node --version 2>/dev/null || echo none) is too old; installing Node 24 into .tools" >&2
  npm install --prefix "$tools" --no-fund --no-audit --loglevel=error "node@24" >&2
  export PATH="$tools/node_modules/.bin:$PATH"
fi
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  if [ ! -x "$tools/node_modules/.bin/pnpm" ] || [ "$("$tools/node_modules/.bin/pnpm" --version)" != "$pnpm_version" ]; then
    echo "scripts/run.sh: installing pnpm $pnpm_version into .tools" >&2
    npm install --prefix "$tools" --no-fund --no-audit --loglevel=error "pnpm@$pnpm_version" >&2
  fi
  export PATH="$tools/node_modules/.bin:$PATH"
fi

# Install from the lockfile when it changed since the last install.
stamp="node_modules/.entente-install-stamp"
if [ ! -f "$stamp" ] || [ pnpm-lock.yaml -nt "$stamp" ]; then
  pnpm install --frozen-lockfile >&2
  touch "$stamp"
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
listening 5432 && export ENTENTE_TEST_POSTGRES_URL="${ENTENTE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
listening 3306 && export ENTENTE_TEST_MARIADB_URL="${ENTENTE_TEST_MARIADB_URL:-mysql://root@127.0.0.1:3306/test}"
listening 5672 && export ENTENTE_TEST_RABBITMQ_URL="${ENTENTE_TEST_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672}"

exec "$@"
