#!/usr/bin/env bash
# What static (musl) builds need, installed when missing; safe to run again:
# Debian's musl-gcc and gcc-aarch64-linux-gnu for the C parts, rustup's musl std, and
# qemu-user, with which the release test runs the arm64 binary.
set -euo pipefail
missing=()
command -v musl-gcc >/dev/null || missing+=(musl-tools)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if ((${#missing[@]})); then
  echo "setup-cross: installing ${missing[*]} from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
