#!/usr/bin/env bash
# Installs the distribution packages the tests need when they are missing. Today that is
# Debian's `prometheus` (it brings `promtool`), which the PromQL differential tests run against.
# Needs root (or sudo) and apt-get only when something is missing; otherwise does nothing.
#
#   bash scripts/system-packages.sh
set -euo pipefail

if [ -x "${ENTENTE_TEST_PROMETHEUS_BIN:-}" ] && [ -x "${ENTENTE_TEST_PROMTOOL_BIN:-}" ]; then
  exit 0
fi
if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "system-packages: prometheus/promtool not found and apt-get is missing;" \
    "install Prometheus 2.x (prometheus and promtool on PATH, or set" \
    "ENTENTE_TEST_PROMETHEUS_BIN and ENTENTE_TEST_PROMTOOL_BIN)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "system-packages: needs root or sudo to install prometheus" >&2; exit 1; }
  sudo="sudo"
fi

# The package's maintainer scripts would start a system-wide Prometheus on :9090; the tests
# start their own. A policy-rc.d that answers 101 ("action forbidden") keeps services down
# while installing; it is removed again unless it was there before.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  own_policy="yes"
fi
remove_policy() { if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; fi; }
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
echo "system-packages: installing prometheus (for promtool and the PromQL differential tests)" >&2
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Should a service have started anyway (e.g. policy-rc.d ignored), stop and disable it.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  echo "system-packages: installed $(prometheus --version 2>&1 | head -1)" >&2
else
  echo "system-packages: prometheus was installed but prometheus/promtool are not on PATH" >&2
  exit 1
fi
