#!/usr/bin/env bash
# Install what avf-ref needs from Debian 12, only what is missing. Safe to re-run.
# Usage: ci/deps.sh [extra-package...]
set -euo pipefail

# libvirt-dev: the peer benchmark (bench/libvirt_cycle.c) runs libvirt's test driver.
# libcap-dev: early_virtmgr reads its caller's capabilities (core/service/early_caller.c).
# libxml2-dev: the early VM declarations loader parses and XSD-validates early_vms*.xml.
# libjson-c-dev: the `vm run` config JSON parser (core/config/vm_config_json.c) builds on json-c.
# groff-base: the vm(1) man page is checked to render without warnings.
# libfaketime: scenarios with `time xN` cross 30 s timeouts in milliseconds (docs/scenarios.md).
# libprotobuf-c-dev: the composite disk spec file is a protobuf, encoded/decoded with protobuf-c (core/disk).
# protobuf-c-compiler: protoc-c generates core/disk's C code from cdisk_spec.proto at build time.
# zlib1g-dev: crc32 for the GPT headers and entry arrays (core/disk/gpt.c).
# uuid-dev: random v4 disk and partition GUIDs (libuuid's uuid_generate_random, core/disk).
# protobuf-compiler: tests decode composite spec files with Google's protoc (tests/integration/test_cdisk.sh).
# gdisk: tests check flattened composites with `sgdisk -v` (tests/integration/test_cdisk.sh).
# fdisk: tests list flattened composites' partitions with `sfdisk --json` (tests/integration/test_cdisk.sh).
# libssl-dev: libcrypto's HMAC-SHA256 derives the payload's instance secrets and ECDSA signs with
#   an attestation key (guest/payload; docs/payload-api.md): no hand-written crypto.
# clang: the libFuzzer targets build only with clang (ci/fuzz.sh, docs/fuzzing.md).
# libclang-rt-14-dev: libFuzzer's and the sanitizers' runtimes for Debian 12's clang 14; clang
#   only recommends it, and recommends are not installed here.
pkgs=(gcc make cmake ninja-build pkg-config libcmocka-dev valgrind libvirt-dev libcap-dev libssl-dev
      libxml2-dev libjson-c-dev libfaketime groff-base libprotobuf-c-dev protobuf-c-compiler
      zlib1g-dev uuid-dev protobuf-compiler gdisk fdisk clang libclang-rt-14-dev "$@")

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "ci/deps.sh: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "ci/deps.sh: missing packages (${missing[*]}) and not root; install them as root" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
${SUDO:-} apt-get update -qq
${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}"
