#!/usr/bin/env bash
# The main job: build, then run one VM on the simulated backend from createVm to
# onDied, printing its event trace. Extra arguments go to avf-simrun, e.g.
#   ci/demo.sh --script "wait 2s; started; ready; wait 1s; finished 7; exit 0"
#   ci/demo.sh --script "hang"            # boot hangup after 30 s (virtual time)
set -euo pipefail
cd "$(dirname "$0")/.."

ci/deps.sh
mkdir -p build
if ! { cmake --preset default && cmake --build --preset default; } >build/demo-build.log 2>&1; then
	cat build/demo-build.log >&2
	echo "ci/demo.sh: build failed (log above, also in build/demo-build.log)" >&2
	exit 1
fi
echo "== one simulated VM, create to death (virtual clock; times in seconds) =="
build/default/bin/avf-simrun "$@"
