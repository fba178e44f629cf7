#!/usr/bin/env bash
# The runner must not be fooled: every scenario in tests/data/scenario-fail is wrong on
# purpose and must fail (exit 1) with the message its "# want:" line gives.
# Usage: scenario_must_fail.sh AVF_SCENARIO DIR
set -uo pipefail
runner="$1" dir="$2" bad=0 n=0
for scn in "$dir"/*.scn; do
	n=$((n + 1))
	want="$(sed -n 's/^# want: //p' "$scn")"
	out="$("$runner" "$scn" 2>&1)"
	rc=$?
	if [ "$rc" -ne 1 ]; then
		echo "NOT CAUGHT: $scn exited $rc (want 1)"; echo "$out" | head -20; bad=$((bad + 1))
	elif [[ "$out" != *"$want"* ]]; then
		echo "WRONG MESSAGE: $scn: want '$want' in:"; echo "$out" | head -20; bad=$((bad + 1))
	else
		echo "caught: $(basename "$scn"): $want"
	fi
done
echo "$((n - bad)) of $n wrong scenarios caught"
[ "$bad" -eq 0 ] && [ "$n" -gt 0 ]
