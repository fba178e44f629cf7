#!/usr/bin/env bash
# The golden runner is not fooled: each case in DIR is wrong on purpose and must fail,
# printing the text of its `# want:` line.
#   golden_must_fail.sh BINDIR DIR WORK_DIR
set -u
runner=$(dirname "$0")/vm_golden.sh
bad=0
for f in "$2"/*.case; do
	want=$(sed -n 's/^# want: //p' "$f")
	out=$(bash "$runner" "$1" "$2" "$3" "$f" 2>&1)
	if [ $? = 0 ]; then
		echo "NOT FAILED: $f"; bad=1
	elif ! grep -qF -- "$want" <<<"$out"; then
		echo "FAILED WITHOUT '$want': $f"; echo "$out"; bad=1
	else
		echo "ok   $(basename "$f") fails with '$want'"
	fi
done
exit $bad
