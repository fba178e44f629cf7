#!/usr/bin/env bash
# Golden-output tests of the `vm` command (docs/vm.md): every case in CASES_DIR runs
# against its own virtualizationservice, run dir and copy of tests/vm/work, and each
# command's exit status, stdout and stderr must be exactly the expected ones.
#
#   vm_golden.sh BINDIR CASES_DIR WORK_DIR [CASE...]
#
# Case file syntax (one step after another; lines are exact, after normalisation):
#   # ...            a comment
#   $ ARGS           run ARGS through the shell, with BINDIR first in PATH, in the
#                    case's scratch dir (a copy of WORK_DIR); stdin is /dev/null
#   ? N              its expected exit status (default 0)
#   > LINE           its expected stdout, line by line, in order
#   ~ LINE           an expected stdout line in any order (the whole stdout is then
#                    compared as a sorted set: a VMM writing to the same stdout races
#                    with vm's own lines, in AVF too)
#   ! LINE           its expected stderr, line by line, in order
#   = FILE           after the step: FILE's expected content follows as `| LINE` lines
# Normalisation of what the commands print: the case's scratch dir -> $DIR, the
# service's state dir -> $STATE, requester pid / uid numbers -> $PID / $UID, the
# project version -> $VERSION.
#
# With VM_GOLDEN_VALGRIND=1 every `vm` a case runs (and the detached holders it forks)
# runs under valgrind memcheck, only vm itself: any error or definitely-lost block in any
# of them fails the case (the log is printed).
#
# After the last step nothing of the case may be left: no process carrying the case's
# service socket in its environment, no file in the run dir, and the service must
# report no VM (`vm list`: Running VMs: []) and exit 0 on SIGTERM.
set -u

bindir=$(cd "$1" && pwd) cases=$2 work=$3
shift 3
version=${AVF_VERSION:-unknown}
failed=0 total=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-golden.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pathdirs=$bindir
if [ -n "${VM_GOLDEN_VALGRIND:-}" ]; then
	command -v valgrind >/dev/null || { echo "VM_GOLDEN_VALGRIND: valgrind not found"; exit 1; }
	mkdir -p "$tmp/shim"
	printf '%s\n' '#!/bin/sh' \
		"exec valgrind --log-file=\"\$VG_LOG_DIR/vg.%p.log\" --leak-check=full \\" \
		"	--errors-for-leak-kinds=definite --track-fds=no \"$bindir/vm\" \"\$@\"" \
		>"$tmp/shim/vm"
	chmod +x "$tmp/shim/vm"
	pathdirs=$tmp/shim:$bindir
fi

# Deadline-bounded wait for a condition (a shell has no pidfd): checked every 20 ms.
wait_for() { # SECONDS CMD...
	local end=$((SECONDS + $1))
	shift
	while ! "$@"; do
		((SECONDS >= end)) && return 1
		sleep 0.02
	done
}

# Processes of the case: whoever carries its service socket in the environment.
case_pids() {
	grep -lsF "AVF_VS_SOCKET=$1" /proc/[0-9]*/environ 2>/dev/null |
		sed 's|/proc/\([0-9]*\)/environ|\1|' | grep -vx "$$" || true
}
no_case_pids() { [ -z "$(case_pids "$1")" ]; }
empty_dir() { [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

normalise() { # FILE DIR STATE
	sed -e "s|$2|\$DIR|g" -e "s|$3|\$STATE|g" \
		-e 's/requesterPid: [0-9]*/requesterPid: $PID/; s/requesterUid: [0-9]*/requesterUid: $UID/' \
		-e 's/"requester_pid": [0-9]*/"requester_pid": $PID/; s/"requester_uid": [0-9]*/"requester_uid": $UID/' \
		-e "s|$version|\$VERSION|g" "$1"
}

# Compare one step; prints a unified diff and returns 1 on a difference.
check_step() { # NAME WHAT EXPECTED_FILE ACTUAL_FILE [sorted]
	local e=$3 a=$4
	if [ "${5:-}" = sorted ]; then
		sort "$3" >"$3.sorted"
		sort "$4" >"$4.sorted"
		e=$3.sorted a=$4.sorted
	fi
	if ! diff -u --label "expected $2" --label "actual $2" "$e" "$a"; then
		return 1
	fi
}

run_case() { # CASEFILE
	local f=$1 name d state sock rundir vspid ready status
	name=$(basename "$f" .case)
	d=$tmp/$name
	mkdir -p "$d"
	cp -a "$work" "$d/w"
	state=$d/state sock=$d/vs.sock rundir=$d/run
	mkdir -p "$rundir" && chmod 700 "$rundir"
	ready=$d/ready
	mkfifo "$ready"
	"$bindir/virtualizationservice" --socket "$sock" --state-dir "$state" --ready-fd 3 \
		3>"$ready" 2>"$d/vs.stderr" &
	vspid=$!
	# The service's ready byte (or EOF if it died), not a guess at how long it takes.
	if ! read -r -n1 -t 10 _ <"$ready"; then
		echo "FAIL $name: virtualizationservice did not become ready"
		cat "$d/vs.stderr"
		kill -9 "$vspid" 2>/dev/null
		return 1
	fi
	local ok=0 step=0 cmd="" want_rc=0 sorted="" file=""
	: >"$d/exp.out"
	: >"$d/exp.err"
	: >"$d/files"

	flush_step() {
		[ -z "$cmd" ] && return 0
		step=$((step + 1))
		(
			cd "$d/w" || exit 99
			export PATH="$pathdirs:$PATH" AVF_VS_SOCKET="$sock" AVF_VM_RUNDIR="$rundir"
			export VG_LOG_DIR="$d"
			eval "$cmd"
		) </dev/null >"$d/raw.out" 2>"$d/raw.err"
		local rc=$?
		normalise "$d/raw.out" "$d/w" "$state" >"$d/act.out"
		normalise "$d/raw.err" "$d/w" "$state" >"$d/act.err"
		if [ "$rc" != "$want_rc" ]; then
			echo "FAIL $name step $step: \$ $cmd"
			echo "  exit status $rc, expected $want_rc"
			sed 's/^/  stdout: /' "$d/act.out"
			sed 's/^/  stderr: /' "$d/act.err"
			ok=1
		fi
		check_step "$name" "stdout of '$cmd'" "$d/exp.out" "$d/act.out" $sorted || ok=1
		check_step "$name" "stderr of '$cmd'" "$d/exp.err" "$d/act.err" || ok=1
		while IFS= read -r ef; do
			normalise "$d/w/$ef" "$d/w" "$state" >"$d/act.file" 2>/dev/null ||
				echo "(missing)" >"$d/act.file"
			check_step "$name" "file $ef" "$d/exp.file.$ef" "$d/act.file" || ok=1
		done <"$d/files"
		cmd="" want_rc=0 sorted="" file=""
		: >"$d/exp.out"
		: >"$d/exp.err"
		: >"$d/files"
	}

	while IFS= read -r line || [ -n "$line" ]; do
		case $line in
		'$ '*) flush_step; cmd=${line#'$ '} ;;
		'? '*) want_rc=${line#'? '} ;;
		'> '* | '>') printf '%s\n' "${line#'>'}" | sed 's/^ //' >>"$d/exp.out" ;;
		'~ '* | '~') printf '%s\n' "${line#'~'}" | sed 's/^ //' >>"$d/exp.out"; sorted=sorted ;;
		'! '* | '!') printf '%s\n' "${line#'!'}" | sed 's/^ //' >>"$d/exp.err" ;;
		'= '*) file=${line#'= '}; echo "$file" >>"$d/files"; : >"$d/exp.file.$file" ;;
		'| '* | '|') printf '%s\n' "${line#'|'}" | sed 's/^ //' >>"$d/exp.file.$file" ;;
		'#'* | '') ;;
		*) echo "FAIL $name: bad line: $line"; ok=1 ;;
		esac
	done <"$f"
	flush_step

	# Nothing of the case may be left behind.
	if ! wait_for 10 no_case_pids "$sock"; then
		echo "FAIL $name: processes left running:"
		for p in $(case_pids "$sock"); do echo "  $p $(tr '\0' ' ' </proc/$p/cmdline)"; done
		for p in $(case_pids "$sock"); do kill -9 "$p"; done
		ok=1
	fi
	if ! empty_dir "$rundir"; then
		echo "FAIL $name: left in the run dir: $(ls -A "$rundir")"
		ok=1
	fi
	local left
	left=$(cd "$d/w" && AVF_VS_SOCKET=$sock PATH="$bindir:$PATH" vm list 2>&1)
	if [ "$left" != "Running VMs: []" ]; then
		echo "FAIL $name: VMs left: $left"
		ok=1
	fi
	local vg
	for vg in "$d"/vg.*.log; do
		[ -e "$vg" ] || continue
		if grep -q -e 'ERROR SUMMARY: [1-9]' "$vg"; then
			echo "FAIL $name: valgrind: $vg"
			cat "$vg"
			ok=1
		fi
	done
	kill -TERM "$vspid"
	wait "$vspid"
	status=$?
	if [ "$status" != 0 ]; then
		echo "FAIL $name: virtualizationservice exited $status"
		cat "$d/vs.stderr"
		ok=1
	fi
	# A case that ran nothing (a missing or empty file) proves nothing: it fails.
	if [ "$step" = 0 ]; then
		echo "FAIL $name: no step ran (is the case file there?)"
		ok=1
	fi
	if [ $ok = 0 ]; then
		echo "ok   $name ($step steps)"
		rm -rf "$d"
	fi
	return $ok
}

if [ $# -gt 0 ]; then
	files=("$@")
else
	files=("$cases"/*.case)
fi
for f in "${files[@]}"; do
	total=$((total + 1))
	run_case "$f" || failed=$((failed + 1))
done
echo "$((total - failed))/$total vm golden cases passed"
[ "$failed" = 0 ]
