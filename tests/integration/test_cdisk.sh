#!/usr/bin/env bash
# avf-cdisk checked by tools nobody here wrote (crosvm-spec.md §5):
#   - Google's protoc decodes the spec with the schema, and re-encodes it to the same bytes;
#   - a second flattener made of protoc --decode, awk and dd rebuilds the guest disk, which
#     must equal `avf-cdisk flatten`'s;
#   - gdisk's sgdisk (-v must say "No problems found": its exit code is 0 even for broken
#     tables) and util-linux's sfdisk (-d, --json, --verify) read the flattened disk;
#   - the data of each partition is where sfdisk says it is.
# Then the rules and the usage errors of the command line, and that a failed create leaves
# nothing behind.
# Usage: test_cdisk.sh AVF_CDISK CDISK_SPEC_PROTO. Exit 77 (skip) if a tool is missing.
set -uo pipefail
# ls order, tool messages and name escaping as the checks expect them
export LC_ALL=C

cdisk="$(realpath "$1")"
proto="$(realpath "$2")"
for tool in protoc sgdisk sfdisk dd awk cmp; do
	if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ] && ! [ -x "/sbin/$tool" ]; then
		echo "SKIP: '$tool' is not installed (ci/deps.sh installs protobuf-compiler, gdisk, fdisk)"
		exit 77
	fi
done
export PATH="$PATH:/usr/sbin:/sbin"

work="$(mktemp -d "${TMPDIR:-/tmp}/test_cdisk.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
proto_dir="$(dirname "$proto")"
proto_name="$(basename "$proto")"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
	local what="$1"
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
has() { grep -qF -- "$2" <<<"$1"; }

decode() { tail -c +16 "$1" | protoc --decode=CompositeDisk -I "$proto_dir" "$proto_dir/$proto_name"; }

# The second flattener: every component's extent from protoc's view of the spec, with dd.
flatten_with_dd() { # SPEC OUT
	local spec="$1" out="$2" length
	decode "$spec" | awk '
		/^component_disks/ { path = ""; off = 0 }
		/^  file_path:/ { sub(/^  file_path: "/, ""); sub(/"$/, ""); path = $0 }
		/^  offset:/ { off = $2 }
		/^}/ { n++; paths[n] = path; offs[n] = off }
		/^length:/ { len = $2 }
		END { for (i = 1; i <= n; i++) print offs[i], (i < n ? offs[i + 1] : len) - offs[i], paths[i]; print "length", len }
	' >extents.txt
	: >"$out"
	while read -r off len path; do
		if [ "$off" = length ]; then
			length="$len"
			continue
		fi
		dd if="$path" of="$out" bs=65536 count="$len" iflag=count_bytes oflag=seek_bytes \
			seek="$off" conv=notrunc status=none || return 1
	done <extents.txt
	truncate -s "$length" "$out"
}

# ---- a composite with every kind of partition -----------------------------------------------
head -c 5000 /dev/urandom >boot.img       # read-only, with a zero-filled tail
head -c 8192 /dev/urandom >data.img       # writable, aligned
head -c 100000 /dev/urandom >sys.img      # read-only, 36-unit UTF-8 label beyond the BMP
label3='système-é😀-012345678901234567890123'  # 'système-é' 9, a surrogate pair 2, '-' 1, 24 digits: 36 UTF-16 units
out="$("$cdisk" create "$work/disk.img" --partition boot=boot.img \
	--partition "data=$work/data.img:rw" --partition "$label3=sys.img:ro" \
	--disk-guid 11111111-2222-4333-8444-555555555555 \
	--partition-guid boot=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee 2>&1)"
check "create exits 0" [ $? -eq 0 ]
check "create reports the size and the GUID" has "$out" \
	"disk.img: 3 partitions, 159744 bytes, disk GUID 11111111-2222-4333-8444-555555555555"
check "create makes the spec, header, footer and zero filler" \
	[ "$(ls | tr '\n' ' ')" = "boot.img data.img disk-footer.img disk-header.img disk-zero.img disk.img sys.img " ]
check "header and footer are 20480 bytes, the filler 4096" \
	[ "$(stat -c %s disk-header.img disk-footer.img disk-zero.img | tr '\n' ' ')" = "20480 20480 4096 " ]
check "the spec starts with composite_disk + 0x1d" \
	[ "$(head -c 15 disk.img | od -An -tx1 | tr -d ' \n')" = "636f6d706f736974655f6469736b1d" ]

# ---- protoc reads the spec -------------------------------------------------------------------
spec="$(decode disk.img)"
check "protoc decodes the spec" [ $? -eq 0 ]
want_spec="version: 2
component_disks {
  file_path: \"$work/disk-header.img\"
}
component_disks {
  file_path: \"$work/boot.img\"
  offset: 20480
}
component_disks {
  file_path: \"$work/disk-zero.img\"
  offset: 25480
}
component_disks {
  file_path: \"$work/data.img\"
  offset: 28672
  read_write_capability: READ_WRITE
}
component_disks {
  file_path: \"$work/sys.img\"
  offset: 36864
}
component_disks {
  file_path: \"$work/disk-zero.img\"
  offset: 136864
}
component_disks {
  file_path: \"$work/disk-footer.img\"
  offset: 139264
}
length: 159744"
if [ "$spec" = "$want_spec" ]; then ok "protoc's text of the spec"; else
	bad "protoc's text of the spec"; diff <(echo "$want_spec") <(echo "$spec")
fi
tail -c +16 disk.img >spec.pb
protoc --encode=CompositeDisk -I "$proto_dir" "$proto_dir/$proto_name" <<<"$spec" >spec.again
check "protoc re-encodes the spec to the same bytes (canonical encoding)" cmp -s spec.pb spec.again

# ---- flattened, and read by gdisk and util-linux ---------------------------------------------
out="$("$cdisk" flatten disk.img flat.img 2>&1)"
check "flatten exits 0" [ $? -eq 0 ]
check "flatten says the size" has "$out" "flat.img: 159744 bytes"
check "the flat image is the spec's length" [ "$(stat -c %s flat.img)" = 159744 ]
flatten_with_dd disk.img flat-dd.img
check "protoc + dd rebuild the same disk as avf-cdisk flatten" cmp -s flat.img flat-dd.img

v="$(sgdisk -v flat.img 2>&1)"
if has "$v" "No problems found" && ! has "$v" "Problem:" && ! has "$v" "Identified"; then
	ok "sgdisk -v: No problems found"
else
	bad "sgdisk -v"; echo "$v"
fi
p="$(sgdisk -p flat.img 2>&1)"
check "sgdisk reads the disk GUID" has "$p" "Disk identifier (GUID): 11111111-2222-4333-8444-555555555555"
check "sgdisk: first usable 40, last usable 278" has "$p" "First usable sector is 40, last usable sector is 278"
check "sgdisk lists boot" grep -Eq '^ +1 +40 +55 +8\.0 KiB +8300 +boot$' <<<"$p"
check "sgdisk lists data" grep -Eq '^ +2 +56 +71 +8\.0 KiB +8300 +data$' <<<"$p"
i1="$(sgdisk -i 1 flat.img 2>&1)"
check "sgdisk: partition 1's unique GUID as given" has "$i1" "Partition unique GUID: AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
check "sgdisk: partition 1 is Linux filesystem" has "$i1" "Partition GUID code: 0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem)"

d="$(sfdisk -d flat.img 2>/dev/null)"
check "sfdisk -d: label-id" has "$d" "label-id: 11111111-2222-4333-8444-555555555555"
check "sfdisk -d: first-lba 40, last-lba 278" has "$d" "first-lba: 40
last-lba: 278"
check "sfdisk -d: boot" has "$d" 'flat.img1 : start=          40, size=          16, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE, name="boot"'
check "sfdisk -d: data" grep -Eq '^flat\.img2 : start= +56, size= +16, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=[0-9A-F-]{36}, name="data"$' <<<"$d"
# sfdisk -d writes the non-ASCII bytes of a name as \xNN: label3's UTF-8, written out by hand
check "sfdisk -d: the 36-unit label, surrogate pair included" grep -Fq \
	'flat.img3 : start=          72, size=         200, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4' <<<"$d"
check "sfdisk -d: label3 decoded from UTF-16 to UTF-8" grep -Fq \
	'name="syst\xc3\xa8me-\xc3\xa9\xf0\x9f\x98\x80-012345678901234567890123"' <<<"$d"
j="$(sfdisk --json flat.img 2>/dev/null | tr -d ' \n')"
check "sfdisk --json: three partitions" [ "$(grep -o '"node":"flat.img[0-9]"' <<<"$j" | wc -l)" = 3 ]
check "sfdisk --json: boot at 40, 16 sectors" has "$j" \
	'{"node":"flat.img1","start":40,"size":16,"type":"0FC63DAF-8483-4772-8E79-3D69D8477DE4","uuid":"AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE","name":"boot"}'
check "sfdisk --json: label3" has "$j" '"node":"flat.img3","start":72,"size":200,'
check "sfdisk --json: label3's name" has "$j" "\"name\":\"$label3\"}"
vv="$(sfdisk --verify flat.img 2>&1)"
check "sfdisk --verify: No errors detected" has "$vv" "No errors detected."

# each partition's bytes are where the table says
check "boot's data at LBA 40, zeros after it" cmp -s <(head -c 5000 boot.img; head -c 3192 /dev/zero) \
	<(dd if=flat.img bs=512 skip=40 count=16 status=none)
check "data's data at LBA 56" cmp -s data.img <(dd if=flat.img bs=512 skip=56 count=16 status=none)
check "sys's data at LBA 72" cmp -s sys.img <(dd if=flat.img bs=512 skip=72 count=200 status=none | head -c 100000)

# ---- show ------------------------------------------------------------------------------------
s="$("$cdisk" show disk.img 2>&1)"
check "show exits 0" [ $? -eq 0 ]
check "show: the length" has "$s" "length: 159744 bytes (312 sectors)"
check "show: the writable component" grep -Eq "^  28672 +8192 +rw +$work/data.img$" <<<"$s"
check "show: the backup header" has "$s" "backup header: LBA 311, entries at LBA 2"
check "show: partition 3 by name" grep -Eq "^  3 +72 +271 +102400 +0FC63DAF-8483-4772-8E79-3D69D8477DE4 +[0-9A-F-]{36} +$label3$" <<<"$s"

# ---- the rules, from the command line; nothing left behind -----------------------------------
mkdir rules && cd rules || exit 1
head -c 4000 /dev/zero >odd.img
head -c 4096 /dev/zero >even.img
: >empty.img
rule() { # rule DESCRIPTION EXPECTED-STATUS EXPECTED-MESSAGE ARGS...
	local what="$1" status="$2" msg="$3" before after o rc
	shift 3
	before="$(ls)"
	o="$("$cdisk" "$@" 2>&1 >/dev/null)"
	rc=$?
	after="$(ls)"
	if [ "$rc" -ne "$status" ]; then
		bad "$what: exit $rc, want $status ($o)"
	elif ! has "$o" "$msg"; then
		bad "$what: want '$msg' in: $o"
	elif [ "$before" != "$after" ]; then
		bad "$what: files left behind: $after"
	else
		ok "$what"
	fi
}
rule "writable size not a multiple of 4096" 1 \
	"avf-cdisk: partition #1 'rw': Read-write partition size 4000 is not a multiple of 4096." \
	create c.img --partition ok=even.img --partition rw=odd.img:rw
rule "zero-size partition" 1 "avf-cdisk: partition #0 'e': size is 0" \
	create c.img --partition e=empty.img
rule "duplicate label" 1 "avf-cdisk: partition #1 'a': duplicate GPT partition label 'a' (also partition #0)" \
	create c.img --partition a=even.img --partition a=odd.img
rule "label of 37 UTF-16 units" 1 \
	"label is longer than the 36 UTF-16 code units of a GPT name" \
	create c.img --partition "${label3}x=even.img"
rule "missing partition image" 1 "avf-cdisk: partition #0 'm': missing.img: No such file or directory" \
	create c.img --partition m=missing.img
head -c 10 /dev/zero >c-header.img
rule "existing file not overwritten" 1 "avf-cdisk: creating 'c-header.img': File exists" \
	create c.img --partition a=even.img
rm c-header.img
rule "no partitions" 2 "avf-cdisk: create: no --partition given" create c.img
rule "no output" 2 "avf-cdisk: create: OUT.img is missing" create --partition a=even.img
rule "partition without =" 2 "avf-cdisk: --partition 'even.img': expected LABEL=PATH[:rw|:ro]" \
	create c.img --partition even.img
rule "bad disk GUID" 2 "avf-cdisk: --disk-guid 'xyz': expected" \
	create c.img --partition a=even.img --disk-guid xyz
rule "GUID for an unknown label" 2 "avf-cdisk: --partition-guid: no partition labelled 'b'" \
	create c.img --partition a=even.img --partition-guid b=11111111-2222-4333-8444-555555555555
rule "unknown option" 2 "avf-cdisk: create: unknown option '--frobnicate'" \
	create c.img --frobnicate
rule "unknown command" 2 "avf-cdisk: unknown command 'make'" make c.img
rule "no command" 2 "avf-cdisk: a command is needed" 
rule "flatten of a non-composite" 1 "avf-cdisk: even.img: invalid magic header for composite disk format" \
	flatten even.img flat.img
rule "flatten onto one of its own components" 1 "the flat image is the composite's component" \
	flatten ../disk.img ../boot.img
check "the component is intact after the refused flatten" cmp -s ../boot.img <(dd if=../flat.img bs=512 skip=40 count=16 status=none | head -c 5000)
rule "show of a missing file" 1 "avf-cdisk: nope.img: No such file or directory" show nope.img
cd .. || exit 1

h="$("$cdisk" --help)"
check "--help exits 0 and shows the usage" has "$h" "Usage: avf-cdisk create OUT.img --partition LABEL=PATH"
v="$("$cdisk" --version)"
check "--version" grep -Eq '^avf-cdisk \(avf-ref\) [0-9]+\.[0-9]+' <<<"$v"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
