#!/usr/bin/env bash
# Run every libFuzzer target in fuzz/ for a bounded time on a copy of its seed corpus and
# fail loudly on any crash, leak, timeout or out-of-memory (docs/fuzzing.md).
#
# Usage: ci/fuzz.sh [SECONDS]        SECONDS per target, default 60
# Environment:
#   AVF_FUZZ_BUILD    build directory (default build/fuzz-ci)
#   AVF_FUZZ_JOBS     targets run at once, one process each (default: nproc)
#   AVF_FUZZ_TARGETS  space-separated subset of targets (default: every fuzz/corpus/NAME)
#
# The build is clang with -DAVF_FUZZ=ON (libFuzzer + ASan on every library) plus UBSan
# that stops at the first report, at -O1 with asserts on. Each target works in
# BUILD/fuzz-run/NAME/: corpus/ starts as the committed seeds plus freshly written ones
# (fuzz_seeds, so a wire change never leaves the fuzzer on stale packets only) and grows
# there; nothing is written into the repository. A finding leaves its input in
# BUILD/fuzz-run/NAME/artifacts/ and the script prints that path and the report.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
build=${AVF_FUZZ_BUILD:-build/fuzz-ci}
jobs=${AVF_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
case $secs in '' | *[!0-9]*) echo "ci/fuzz.sh: SECONDS must be a number, got '$secs'" >&2; exit 2 ;; esac

# clang and libclang-rt-14-dev (libFuzzer's runtime) are in ci/deps.sh's list.
ci/deps.sh

cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_FLAGS="-O1 -fsanitize=undefined -fno-sanitize-recover=undefined" \
	-DCMAKE_EXE_LINKER_FLAGS="-fsanitize=undefined" -DAVF_FUZZ=ON -DAVF_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz

if [ -n "${AVF_FUZZ_TARGETS:-}" ]; then
	read -r -a targets <<<"$AVF_FUZZ_TARGETS"
else
	targets=()
	for d in fuzz/corpus/*/; do
		targets+=("$(basename "$d")")
	done
fi
# Every target has seeds and every built target is run: a new one cannot be forgotten.
for bin in "$build"/bin/fuzz_*; do
	name=${bin##*/fuzz_}
	[ "$name" = seeds ] && continue
	if [ ! -d "fuzz/corpus/$name" ]; then
		echo "ci/fuzz.sh: $bin has no seed corpus fuzz/corpus/$name" >&2
		exit 1
	fi
done

run="$build/fuzz-run"
rm -rf "$run"
mkdir -p "$run/fresh"
"$build/bin/fuzz_seeds" "$run/fresh" >/dev/null

# One target: copy its seeds, run it, leave log and exit status in its directory.
fuzz_one() {
	local t=$1 dir="$run/$1" rc=0
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp fuzz/corpus/"$t"/* "$dir/corpus/"
	if [ -d "$run/fresh/$t" ]; then
		for f in "$run/fresh/$t"/*; do
			cp "$f" "$dir/corpus/fresh-${f##*/}"
		done
	fi
	# -timeout: one input taking 10 s is a hang. The outer timeout only guards the
	# runner itself (libFuzzer stops on -max_total_time).
	timeout --signal=KILL $((secs + 300)) "$build/bin/fuzz_$t" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
	echo "$rc" >"$dir/rc"
}

start=$(date +%s)
echo "ci/fuzz.sh: ${#targets[@]} targets, ${secs} s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
	if [ ! -x "$build/bin/fuzz_$t" ]; then
		echo "ci/fuzz.sh: no target fuzz_$t in $build/bin" >&2
		exit 1
	fi
	fuzz_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

fstat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

failed=()
total=0
printf '\n%-16s %12s %10s %10s %8s %8s  %s\n' target executions exec/s new_units corpus rss_mb result
for t in "${targets[@]}"; do
	dir="$run/$t"
	rc=$(cat "$dir/rc")
	execs=$(fstat_of number_of_executed_units "$dir/log")
	result=ok
	if [ "$rc" != 0 ] || [ -n "$(ls -A "$dir/artifacts")" ] || [ -z "$execs" ]; then
		result="FAILED (exit $rc)"
		failed+=("$t")
	fi
	total=$((total + ${execs:-0}))
	printf '%-16s %12s %10s %10s %8s %8s  %s\n' "$t" "${execs:--}" \
		"$(fstat_of average_exec_per_sec "$dir/log")" "$(fstat_of new_units_added "$dir/log")" \
		"$(find "$dir/corpus" -type f | wc -l)" "$(fstat_of peak_rss_mb "$dir/log")" "$result"
done
printf '%-16s %12s   (%d s wall)\n' total "$total" $(($(date +%s) - start))

if [ ${#failed[@]} -ne 0 ]; then
	for t in "${failed[@]}"; do
		dir="$run/$t"
		printf '\n== fuzz_%s FAILED: last lines of %s ==\n' "$t" "$dir/log" >&2
		grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$dir/log" | tail -40 >&2
		for a in "$dir"/artifacts/*; do
			[ -e "$a" ] || continue
			echo "crash input: $a" >&2
			echo "  replay: $build/bin/fuzz_$t $a" >&2
		done
	done
	echo "ci/fuzz.sh: ${failed[*]} failed; keep each input as a regression (docs/fuzzing.md)" >&2
	exit 1
fi
echo "ci/fuzz.sh: every target ran clean"
