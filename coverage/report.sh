#!/usr/bin/env bash
# Line and branch coverage of the whole project, from every test label, in one command:
#
#   coverage/report.sh [-j N] [--no-tests]
#
# Builds the `coverage` preset (gcov instrumentation), runs the unit, integration,
# scenario and cli labels, and writes build/coverage/report/index.html (lcov/genhtml,
# line and branch) plus a one-screen summary per directory. The daemons, virtmgr,
# fakevmm and vm that the tests start are instrumented too and write their own .gcda
# data beside the objects (the paths are absolute, gcov merges under a file lock), so
# the report covers the processes a test spawns, not just the test binaries.
#
# Thresholds: coverage/thresholds (DIR LINE% BRANCH%). The script fails when any
# directory is below its line: raise them as coverage grows, never lower them.
# docs/coverage.md tells how to read the report.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
run_tests=1
while [ $# -gt 0 ]; do
	case $1 in
	-j) jobs=$2; shift 2 ;;
	--no-tests) run_tests=0; shift ;;
	*) echo "usage: coverage/report.sh [-j N] [--no-tests]" >&2; exit 2 ;;
	esac
done

ci/deps.sh lcov
build=build/coverage
out=$build/report
rc=(--rc lcov_branch_coverage=1 --quiet)

cmake --preset coverage >/dev/null
cmake --build --preset coverage -j "$jobs"
if [ $run_tests = 1 ]; then
	lcov "${rc[@]}" --zerocounters --directory "$build"
	# Stability (each scenario 20 more times) adds time, not coverage.
	ctest --preset coverage -j "$jobs" -L 'unit|integration|scenario|cli' -LE stability
fi

# A zero baseline of every instrumented file first, so code no test reaches shows as 0%
# instead of being absent from the report.
lcov "${rc[@]}" --capture --initial --directory "$build" --output-file "$build/base.info"
lcov "${rc[@]}" --capture --directory "$build" --output-file "$build/run.info"
lcov "${rc[@]}" --add-tracefile "$build/base.info" --add-tracefile "$build/run.info" \
	--output-file "$build/all.info"
# Our sources only: not the tests, fuzzers and benchmarks themselves, not generated code.
lcov "${rc[@]}" --extract "$build/all.info" "$PWD/*" --output-file "$build/ours.info"
lcov "${rc[@]}" --remove "$build/ours.info" "$PWD/tests/*" "$PWD/fuzz/*" "$PWD/bench/*" \
	"$PWD/build/*" --output-file "$build/coverage.info"
rm -rf "$out"
genhtml "${rc[@]}" --branch-coverage --legend --title "avf-ref" \
	--output-directory "$out" "$build/coverage.info" >/dev/null

# Per top-level directory: lines and branches hit / found, from the tracefile.
summary=$(awk -v root="$PWD/" '
	/^SF:/ { f = substr($0, 4); sub(root, "", f); split(f, p, "/"); d = p[1] "/" }
	/^LF:/ { lf[d] += substr($0, 4) }
	/^LH:/ { lh[d] += substr($0, 4) }
	/^BRF:/ { bf[d] += substr($0, 5) }
	/^BRH:/ { bh[d] += substr($0, 5) }
	END {
		for (d in lf) {
			printf "%-12s %6.1f %6.1f %7d %7d\n", d, lf[d] ? 100 * lh[d] / lf[d] : 0,
				bf[d] ? 100 * bh[d] / bf[d] : 0, lh[d], lf[d]
			tl += lf[d]; th += lh[d]; tb += bf[d]; tbh += bh[d]
		}
		printf "%-12s %6.1f %6.1f %7d %7d\n", "total", 100 * th / tl,
			tb ? 100 * tbh / tb : 0, th, tl
	}' "$build/coverage.info" | sort)
echo
printf '%-12s %6s %6s %7s %7s\n' directory line% branch% lines/hit lines
echo "$summary"
echo
echo "report: $out/index.html"

# Thresholds: every directory named in coverage/thresholds must reach its numbers.
fail=0
while read -r dir line branch; do
	case $dir in '#'* | '') continue ;; esac
	got=$(awk -v d="$dir" '$1 == d { print $2, $3 }' <<<"$summary")
	if [ -z "$got" ]; then
		echo "coverage: no data for $dir (named in coverage/thresholds)" >&2
		fail=1
		continue
	fi
	read -r gl gb <<<"$got"
	if awk -v g="$gl" -v t="$line" 'BEGIN { exit !(g < t) }'; then
		echo "coverage: $dir line coverage $gl% is below its threshold $line%" >&2
		fail=1
	fi
	if awk -v g="$gb" -v t="$branch" 'BEGIN { exit !(g < t) }'; then
		echo "coverage: $dir branch coverage $gb% is below its threshold $branch%" >&2
		fail=1
	fi
done <coverage/thresholds
exit $fail
