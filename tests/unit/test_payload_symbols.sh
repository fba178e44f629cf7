#!/usr/bin/env bash
# libvm_payload.so's exports: the real library and the stub export exactly the
# symbols of the version script, each at version LIBVM_PAYLOAD, with soname
# libvm_payload.so; and a payload linked against the stub needs libvm_payload.so and
# binds its calls at that version.
# Usage: test_payload_symbols.sh MAP REAL_SO STUB_SO PAYLOAD_SO
set -euo pipefail
map=$1 real=$2 stub=$3 payload=$4
fail() { echo "test_payload_symbols: $*" >&2; exit 1; }

# The global: section of the map, one name a line.
want=$(sed -n '/global:/,/local:/p' "$map" | grep -oE '^[[:space:]]+[A-Za-z_][A-Za-z0-9_]*;' |
	tr -d ' ;\t' | sort)
[ "$(wc -l <<<"$want")" -ge 15 ] || fail "too few names read from $map"

# Defined dynamic symbols as name@@VERSION (the version node itself left out).
exports() {
	nm -D --defined-only "$1" | awk '{print $3}' | grep -v '^LIBVM_PAYLOAD$' | sort
}
for lib in "$real" "$stub"; do
	got=$(exports "$lib")
	bad=$(grep -v '@@LIBVM_PAYLOAD$' <<<"$got" || true)
	[ -z "$bad" ] || fail "$lib exports symbols outside LIBVM_PAYLOAD: $bad"
	names=$(sed 's/@@LIBVM_PAYLOAD$//' <<<"$got")
	if [ "$names" != "$want" ]; then
		diff <(echo "$want") <(echo "$names") >&2 || true
		fail "$lib does not export exactly the map file's symbols (< map, > library)"
	fi
	soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	[ "$soname" = libvm_payload.so ] || fail "$lib has soname '$soname'"
done

# The payload was linked against the stub: it needs libvm_payload.so, has no RUNPATH
# pointing anywhere, and its API references are versioned LIBVM_PAYLOAD. (Outputs are
# captured first: grep -q closing a pipe early would fail the pipeline.)
dyn=$(readelf -d "$payload")
undef=$(nm -D --undefined-only "$payload")
grep -q 'NEEDED.*\[libvm_payload.so\]' <<<"$dyn" || fail "$payload lacks NEEDED libvm_payload.so"
if grep -qE 'RUNPATH|RPATH' <<<"$dyn"; then fail "$payload has a RUNPATH"; fi
grep -q 'AVmPayload_getVmInstanceSecret@LIBVM_PAYLOAD' <<<"$undef" ||
	fail "$payload does not bind AVmPayload_getVmInstanceSecret at LIBVM_PAYLOAD"
echo "test_payload_symbols: $(wc -l <<<"$want") symbols; real and stub agree"
