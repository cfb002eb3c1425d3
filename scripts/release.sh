#!/usr/bin/env bash
# Builds a release in the Terraform Registry layout, and a provider mirror beside it.
#
#   make release VERSION=x.y.z GPG_KEY=<key id or e-mail> [OUT=dist]
#
# OUT/VERSION/ gets:
#   terraform-provider-dbaas_<version>_linux_{amd64,arm64}.zip   (binary terraform-provider-dbaas_v<version>)
#   terraform-provider-dbaas_<version>_manifest.json             (protocol 6)
#   terraform-provider-dbaas_<version>_SHA256SUMS[.sig]          (detached signature by GPG_KEY)
# OUT/mirror/registry.terraform.io/infra/dbaas/ gets the zips (filesystem_mirror's packed
# layout) and index.json + <version>.json (the provider network mirror protocol), so the
# same folder serves `filesystem_mirror` from disk and `network_mirror` from any static
# HTTPS server. Earlier versions in the mirror are kept.
#
# Both binaries are static (musl): they run on any Linux, whatever its libc. The C parts
# (ring) are compiled with Debian's musl-gcc for amd64 and gcc-aarch64-linux-gnu for arm64
# (installed when missing, as root); rustup adds the musl standard libraries. Safe to run
# again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${VERSION:?set VERSION=x.y.z}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || { echo "release: VERSION=$version is not x.y.z" >&2; exit 2; }
key=${GPG_KEY:?set GPG_KEY to the key that signs SHA256SUMS (gpg --list-secret-keys shows yours)}
out=$(mkdir -p "${OUT:-$root/dist}" && cd "${OUT:-$root/dist}" && pwd)
name=terraform-provider-dbaas
dir="$out/$version"
mirror="$out/mirror/registry.terraform.io/infra/dbaas"
declare -A targets=([linux_amd64]=x86_64-unknown-linux-musl [linux_arm64]=aarch64-unknown-linux-musl)

"$root/scripts/setup-cross.sh"
export CC_x86_64_unknown_linux_musl=musl-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar

rm -rf "$dir" && mkdir -p "$dir" "$mirror"
for platform in linux_amd64 linux_arm64; do
  target=${targets[$platform]}
  echo "release: building $platform ($target)"
  cargo build --release --locked --quiet --target "$target" --manifest-path "$root/Cargo.toml"
  stage=$(mktemp -d)
  cp "$root/target/$target/release/$name" "$stage/${name}_v$version"
  # Fixed times and order: the same source gives the same zip.
  touch -d '2000-01-01T00:00:00Z' "$stage/${name}_v$version"
  (cd "$stage" && TZ=UTC zip -q -X -D "$dir/${name}_${version}_$platform.zip" "${name}_v$version")
  rm -rf "$stage"
done
printf '{\n  "version": 1,\n  "metadata": {\n    "protocol_versions": ["6.0"]\n  }\n}\n' >"$dir/${name}_${version}_manifest.json"
(cd "$dir" && sha256sum ./*.zip ./*_manifest.json | sed 's| \./| |' >"${name}_${version}_SHA256SUMS")
gpg --batch --yes --local-user "$key" --detach-sign --output "$dir/${name}_${version}_SHA256SUMS.sig" "$dir/${name}_${version}_SHA256SUMS"

# The mirror: zips plus the network mirror protocol's JSON.
cp "$dir"/*.zip "$mirror/"
python3 - "$mirror" "$version" "$dir" <<'PY'
import hashlib, json, os, sys
mirror, version, release = sys.argv[1:]
name = "terraform-provider-dbaas"
archives = {}
for platform in ("linux_amd64", "linux_arm64"):
    zip_name = f"{name}_{version}_{platform}.zip"
    digest = hashlib.sha256(open(os.path.join(release, zip_name), "rb").read()).hexdigest()
    archives[platform] = {"url": zip_name, "hashes": [f"zh:{digest}"]}
json.dump({"archives": archives}, open(os.path.join(mirror, f"{version}.json"), "w"), indent=2)
index_path = os.path.join(mirror, "index.json")
index = json.load(open(index_path)) if os.path.exists(index_path) else {"versions": {}}
index["versions"][version] = {}
json.dump(index, open(index_path, "w"), indent=2, sort_keys=True)
PY
echo "release: $dir"
ls -1 "$dir"
echo "release: mirror $out/mirror (versions: $(python3 -c "import json; print(', '.join(json.load(open('$mirror/index.json'))['versions']))"))"
