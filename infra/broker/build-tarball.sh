#!/usr/bin/env bash
# Build the release tarball of the broker for Graviton hosts (aarch64 Linux, glibc):
#
#   wharf-broker-<version>-aarch64-linux/
#     bin/wharf-broker        release binary (cargo-lambda's zig toolchain, glibc <= 2.34)
#     wharf-broker.service    systemd unit (infra/systemd)
#     config.example.toml     example config (infra/broker)
#     INSTALL.md              the "install by hand" section of infra/README.md
#
# Output: <target dir>/dist/wharf-broker-<version>-aarch64-linux.tar.gz and a .sha256 beside it
# (the last line printed is the tarball's path). The target dir is the workspace's (honours
# CARGO_TARGET_DIR), shared with `sam build`, which compiles the functions with the same toolchain
# and flags, so the dependencies they share are compiled once.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# shellcheck source=../deploy/tools.sh
. "$root/infra/deploy/tools.sh"

wharf_ensure_aarch64_target
wharf_ensure_cargo_lambda

meta="$(cargo metadata --format-version 1 --no-deps --locked)"
read -r target_dir version < <(python3 -c '
import json, sys
m = json.load(sys.stdin)
v = next(p["version"] for p in m["packages"] if p["name"] == "wharf-broker")
print(m["target_directory"], v)' <<<"$meta")

echo "==> cargo lambda build --release --arm64 -p wharf-broker (target dir $target_dir)"
start=$(date +%s)
cargo lambda build --release --arm64 --locked -p wharf-broker --bin wharf-broker
echo "    built in $(( $(date +%s) - start )) s"
binary="$target_dir/lambda/wharf-broker/bootstrap"
[ -x "$binary" ] || { echo "build-tarball: expected binary at $binary" >&2; exit 1; }

# The host runs Amazon Linux 2023 (glibc 2.34) on arm64: refuse anything else before packing.
python3 - "$binary" <<'PY'
import sys
with open(sys.argv[1], "rb") as f:
    head = f.read(20)
assert head[:4] == b"\x7fELF", "not an ELF file"
assert head[4] == 2, "not a 64-bit ELF"
machine = int.from_bytes(head[18:20], "little")
assert machine == 0xB7, f"ELF machine {machine:#x} is not AArch64 (0xb7)"
PY
glibc_max="$(readelf -V "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -u | tail -1)"
python3 -c 'import sys; v=tuple(map(int, sys.argv[1].split("."))); sys.exit(0 if v <= (2, 34) else f"binary needs glibc {sys.argv[1]}, Amazon Linux 2023 has 2.34")' "$glibc_max"
echo "    aarch64 ELF, needs glibc >= $glibc_max"

name="wharf-broker-$version-aarch64-linux"
stage="$target_dir/dist/$name"
rm -rf "$stage"
install -d "$stage/bin"
install -m 0755 "$binary" "$stage/bin/wharf-broker"
install -m 0644 infra/systemd/wharf-broker.service "$stage/wharf-broker.service"
install -m 0644 infra/broker/config.example.toml "$stage/config.example.toml"
# INSTALL.md is the README's section between the install markers: one text, no drift.
awk '/<!-- install:begin -->/{on=1; next} /<!-- install:end -->/{on=0} on' infra/README.md > "$stage/INSTALL.md"
[ -s "$stage/INSTALL.md" ] || { echo "build-tarball: no install section in infra/README.md" >&2; exit 1; }

# Reproducible archive: fixed order, owner and mtime (the last commit's time).
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
tarball="$target_dir/dist/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -C "$target_dir/dist" -cf - "$name" | gzip -n -9 > "$tarball"
rm -rf "$stage"
(cd "$target_dir/dist" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "    $(tar -tzf "$tarball" | tr '\n' ' ')"
echo "    sha256 $(cut -d' ' -f1 "$tarball.sha256"), $(du -h "$tarball" | cut -f1)"
echo "$tarball"
