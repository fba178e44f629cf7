#!/usr/bin/env bash
# The main job: build, then run a representative scenario on the fake backend: one VM
# through the whole stack (a client process -> its virtmgr -> a fakevmm VMM, the CID from
# virtualizationservice, all real processes) from createVm to onDied and the CID's
# release, then the leak check. Prints each step, the event trace of every process and
# where the HTML timeline of the run is. Another scenario: ci/demo.sh FILE.scn
# (One VM without the scenario language: build/default/bin/avf-run --help.)
set -euo pipefail
cd "$(dirname "$0")/.."

ci/deps.sh
mkdir -p build/demo
if ! { cmake --preset default && cmake --build --preset default; } >build/demo-build.log 2>&1; then
	cat build/demo-build.log >&2
	echo "ci/demo.sh: build failed (log above, also in build/demo-build.log)" >&2
	exit 1
fi
scn="${1:-scenarios/lifecycle/boot-to-shutdown.scn}"
timeline="build/demo/$(basename "${scn%.scn}").html"
echo "== $scn on the fake backend =="
cat "$scn"
echo
build/default/bin/avf-scenario -v --show-trace --timeline "$timeline" "$scn"
echo
echo "timeline: $PWD/$timeline"
