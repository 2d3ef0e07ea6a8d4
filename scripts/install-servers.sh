#!/usr/bin/env bash
# Installs, on Debian/Ubuntu as root, the database servers and sshd that rehearsals and tests start
# throwaway copies of, percona-toolkit (bench/verify.ts compares zdm verify with pt-table-checksum), and
# pgbouncer and haproxy (the poolers `zdm rehearse --pooler` and the pooler tests put in front of the source), and
# mydumper (the parallel logical seed of MySQL/MariaDB), and iproute2 (ip, tc: the WAN test bed), zstd (the compressed seed stream)
# and util-linux (script: the CLI confirmation test).
# The packages' own services are not started.
set -euo pipefail
need=()
for pkg in postgresql mariadb-server mariadb-backup openssh-server percona-toolkit pgbouncer haproxy mydumper iproute2 zstd util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "zdm: installing ${need[*]} needs root (run as root, or install them yourself)" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
