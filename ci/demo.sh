#!/usr/bin/env bash
# The main job: build, then run one VM on the fake backend through the whole stack
# (this client -> virtmgr -> fakevmm, CIDs from virtualizationservice, all real
# processes) from createVm to onDied, printing the event trace of every process.
# Extra arguments go to avf-run, e.g.
#   ci/demo.sh --script "wait 2s; started; ready; wait 1s; finished 7; exit 0"
#   ci/demo.sh --script "started; hang" --stop-after 500   # stop() -> KILLED
set -euo pipefail
cd "$(dirname "$0")/.."

ci/deps.sh
mkdir -p build
if ! { cmake --preset default && cmake --build --preset default; } >build/demo-build.log 2>&1; then
	cat build/demo-build.log >&2
	echo "ci/demo.sh: build failed (log above, also in build/demo-build.log)" >&2
	exit 1
fi
echo "== one VM on the fake backend, createVm to onDied (seconds since the first event) =="
build/default/bin/avf-run "$@"
