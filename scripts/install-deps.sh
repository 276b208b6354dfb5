#!/usr/bin/env bash
# Installs every Debian 12 package kraal needs to build, test and run.
# Idempotent: apt is only asked when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
  # libraries
  libzmq3-dev libmsgpack-dev libyaml-dev libyajl-dev libsqlite3-dev
  libmicrohttpd-dev libgnutls28-dev
  # Secrets at rest: AES-256-GCM (the core)
  nettle-dev
  libarchive-dev libcurl4-gnutls-dev
  # networking: libiptc (Services, masquerade)
  libiptc-dev libip4tc-dev libxtables-dev libmnl-dev
  # pod network: netlink (network-bridge)
  libnl-3-dev libnl-route-3-dev bridge-utils
  # cluster DNS: the wire format (network-dns); dig/nslookup in its tests
  libldns-dev dnsutils
  # the node agent: OCI runtimes, test images, a local registry
  runc crun busybox-static skopeo docker-registry iproute2 iptables
  # the CronJob controller's spec.timeZone (/usr/share/zoneinfo)
  tzdata
  # tests and benchmarks
  libcmocka-dev libjansson-dev procps python3 curl wrk hey
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
