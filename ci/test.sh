#!/usr/bin/env bash
# Build and run every test: the default build (all labels), valgrind memcheck of
# the unit tests, the ASan+UBSan build, coverage, and the fuzz targets for a bounded
# time. Fails loudly on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

step "dependencies"
ci/deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

step "default build (-Wall -Wextra -Werror)"
cmake --preset default
cmake --build --preset default -j "$jobs"

step "tests (default build)"
ctest --preset default -j "$jobs"

step "valgrind memcheck (unit and integration labels, daemons and VMMs included)"
# Memcheck runs the tests under valgrind (--trace-children=yes: virtmgr,
# virtualizationservice and fakevmm too); any error or definitely-lost byte fails
# the test through valgrind's --error-exitcode. The stack test's 10,000 cycles
# are bounded to 50 here: the default run above does the full count.
(cd build/default && AVF_STACK_CYCLES=50 ctest -T memcheck -L 'unit|integration' -j "$jobs" --output-on-failure)
defects=$(grep -l "ERROR SUMMARY: [1-9]" build/default/Testing/Temporary/MemoryChecker.*.log 2>/dev/null || true)
if [ -n "$defects" ]; then
	echo "valgrind found errors in: $defects" >&2
	exit 1
fi

step "valgrind memcheck of the vm command (every golden case; vm and its detached holders)"
# ctest's memcheck would put valgrind on bash and every child (~10 min); here only vm
# runs under it, and any error or definitely-lost block fails its case.
VM_GOLDEN_VALGRIND=1 ctest --test-dir build/default -R '^vm_golden$' --output-on-failure

step "ASan + UBSan build and tests"
cmake --preset asan
cmake --build --preset asan -j "$jobs"
# The stability label (every scenario 20 more times) ran in the default build above.
ctest --preset asan -j "$jobs" -LE stability

step "coverage (report and thresholds: coverage/report.sh, docs/coverage.md)"
coverage/report.sh -j "$jobs"

step "fuzzing (every libFuzzer target 60 s on a copy of its seeds: ci/fuzz.sh, docs/fuzzing.md)"
# Two targets at a time on 2 cores, about 6 minutes with the clang build; any crash, leak,
# UB report or hang fails here with the input's path.
ci/fuzz.sh 60

step "benchmarks (smoke run with small counts; numbers only, nothing asserted)"
build/default/bin/sim_cycle 20000 1000
build/default/bin/cid_bench | tail -1
build/default/bin/stack_cycle 200 2000 5000

step "all test runs passed"
