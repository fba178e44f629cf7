#!/bin/sh
# run-app.sh PAYLOAD INSTANCE [VM-OPTION...]: `vm run-app` with one of the example
# payloads (scenarios/payloads, built into <bindir>/payloads) and an instance image
# in the run's directory (next to AVF_VM_RUNDIR, removed with the run), so a
# scenario names neither build paths nor files in the source tree. The console goes
# nowhere; the VM's log (the payload's stdout and stderr) is this script's stdout.
set -eu
payload=$1 instance=$2
shift 2
bindir=$(dirname "$AVF_FAKEVMM")
rundir=$(dirname "$AVF_VM_RUNDIR")
exec vm run-app --console /dev/null "$@" "$bindir/payloads/$payload" "$rundir/$instance"
