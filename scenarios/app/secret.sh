#!/bin/sh
# secret.sh: boot libsecret.so (prints its instance secret for id "test-id" to the
# VM's log) twice with one instance image and once with another; compare.
set -eu
here=$(dirname "$0")
secret() { sh "$here/run-app.sh" libsecret.so "$1" | sed -n 's/^instance secret: //p'; }
a1=$(secret one.img)
a2=$(secret one.img)
b=$(secret two.img)
[ ${#a1} -eq 64 ] || { echo "no secret printed: '$a1'"; exit 1; }
[ "$a1" = "$a2" ] && echo "same instance: same secret" || echo "same instance: $a1 != $a2"
[ "$a1" != "$b" ] && echo "other instance: other secret" || echo "other instance: same secret $b"
