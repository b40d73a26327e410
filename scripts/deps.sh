#!/usr/bin/env bash
# Installs the Debian packages camledger builds and runs with, when missing.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc libavformat-dev libavcodec-dev libavutil-dev
      libpq-dev libuv1-dev libh2o-dev libssl-dev libjansson-dev libcmocka-dev
      postgresql-15 postgresql-contrib ffmpeg curl openssl clang libclang-rt-14-dev wrk jq)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
