#!/usr/bin/env bash
# The loopback harness: switchyard in-process vs direct calls vs one and two
# HAProxy hops, on 127.0.0.1, in interleaved rounds. Installs Debian's
# haproxy if it is missing (as root, or with passwordless sudo). Every
# server and proxy it starts is stopped when it ends; -deadline bounds it.
#
#	bench/loopback.sh                          # 5 rounds, CSV to bench/results/loopback.csv
#	bench/loopback.sh -rounds 9 -duration 3s   # flags go to bench/loopback
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null; then
	if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
mkdir -p bench/results
exec go run ./bench/loopback -haproxy "$(command -v haproxy)" -csv bench/results/loopback.csv "$@"
