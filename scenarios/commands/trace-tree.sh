#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# For trace-lanes.scn: writes trace lines the way a command-line tool and the helpers
# it starts do (each process appends "<time> <pid> <actor> <text>" to AVF_TRACE_FILE in
# one write): this process, two children one after the other under one actor word,
# then this process again.
set -eu
say='printf "1.000000000 %s %s %s\n" "$$" "$1" "$2" >> "$AVF_TRACE_FILE"'
printf '1.000000000 %s %s %s\n' "$$" tool "started" >> "$AVF_TRACE_FILE"
sh -c "$say" - helper "first child"
sh -c "$say" - helper "second child"
printf '1.000000000 %s %s %s\n' "$$" tool "done" >> "$AVF_TRACE_FILE"
echo "three processes traced"
