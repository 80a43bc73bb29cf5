#!/usr/bin/env bash
# System setup for the SQL join benchmark's third baseline: PostgreSQL's mysql_fdw, from the
# distribution's package for the installed PostgreSQL major version. Needs root (or sudo) and
# apt-get; does nothing when the extension is already installed.
#
#   scripts/bench-sql-setup.sh          (PG_MAJOR=15 by default, else the newest installed)
set -euo pipefail

pg_major="${PG_MAJOR:-}"
if [ -z "$pg_major" ]; then
  if [ -d /usr/share/postgresql/15 ]; then
    pg_major=15
  else
    pg_major="$(ls /usr/share/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1 || true)"
  fi
fi
if [ -z "$pg_major" ]; then
  echo "bench-sql-setup: no PostgreSQL installation under /usr/share/postgresql" >&2
  exit 1
fi

control="/usr/share/postgresql/$pg_major/extension/mysql_fdw.control"
if [ -f "$control" ]; then
  echo "bench-sql-setup: mysql_fdw is installed ($control)"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "bench-sql-setup: apt-get not found; install mysql_fdw for PostgreSQL $pg_major by hand" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bench-sql-setup: needs root or sudo" >&2; exit 1; }
  sudo="sudo"
fi

package="postgresql-$pg_major-mysql-fdw"
export DEBIAN_FRONTEND=noninteractive
# A fresh image has no package lists; refresh them only when the package is unknown.
if ! apt-cache show "$package" >/dev/null 2>&1; then
  $sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "$package"

if [ -f "$control" ]; then
  echo "bench-sql-setup: installed $package"
else
  echo "bench-sql-setup: $package installed but $control is missing" >&2
  exit 1
fi
