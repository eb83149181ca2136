#!/usr/bin/env bash
# Hostile archives through the real archive walk (ampscansvc --scan): each
# gives a verdict within the limits, in bounded time and memory, never a
# crash.
#   worker_hostile.sh AMPSCANSVC SOURCE_DIR
. "$(dirname "$0")/lib.sh"
SVC=$1
SRC=$2
command -v python3 >/dev/null || { not_ok "python3 missing"; finish; exit; }
python3 "$SRC/tests/gen/gen_hostile_archives.py" "$T_TMP/h" || { not_ok "generator failed"; finish; exit; }
# hash signatures only: several of these zips store the EICAR bytes
# uncompressed, where a body signature would rightly find them in the outer file
defs="--defs $SRC/tools/demo-defs/demo.hdb --allow-unsigned"

# scan FILE: run with a time limit and record verdict line, notes, RSS
scan() {
	local f=$1 rc=0
	/usr/bin/time -f '%M' -o "$T_TMP/rss" timeout 60 "$SVC" --scan --engine builtin $defs "$T_TMP/h/$f" \
		>"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	echo "$rc" >"$T_TMP/rc"
}
verdict() {  # verdict FILE EXPECT(OK|FOUND) [NOTE-SUBSTRING]
	local f=$1 want=$2 note=${3:-}
	scan "$f"
	local rc rss
	rc=$(cat "$T_TMP/rc"); rss=$(tail -1 "$T_TMP/rss")
	check "$f: exits normally (status $rc)" [ "$rc" = 0 -o "$rc" = 1 ]
	check "$f: verdict $want" grep -q ": .*$want\$" "$T_TMP/out"
	[ -n "$note" ] && check "$f: note says '$note'" grep -q "$note" "$T_TMP/err"
	check "$f: peak memory ${rss} KB under 900 MB" [ "${rss:-0}" -lt 921600 ]
}
command -v /usr/bin/time >/dev/null || { not_ok "/usr/bin/time missing (tools/bootstrap)"; finish; exit; }

verdict nested-zip-24.zip OK "MaxRecursion"
verdict bomb-zeros.zip OK "limit exceeded"
verdict bomb-42.zip OK "limit exceeded"
verdict many-members.zip OK "MaxFiles"
verdict liar-size.zip OK "MaxFileSize"
verdict corrupt.zip OK
verdict encrypted.zip OK "encrypted"
verdict eicar-deep-tgz.tgz FOUND
for f in eicar.gz eicar.bz2 eicar.xz eicar.uu; do
	verdict $f FOUND
done
# an ELF is never offered to libarchive (its SFX search is costly): the zip
# appended to one is not unpacked; without the magic the same bytes are
verdict elf-sfx.elf OK
verdict notelf-sfx.bin FOUND
# the limits are options: a deeper recursion finds what is nested 24 deep
"$SVC" --scan --engine builtin $defs --max-recursion 30 "$T_TMP/h/nested-zip-24.zip" >"$T_TMP/out" 2>&1
check "nested-zip-24.zip with --max-recursion 30: FOUND" grep -q 'Eicar-Test-Signature FOUND' "$T_TMP/out"
"$SVC" --scan --engine builtin $defs --max-files 30000 "$T_TMP/h/many-members.zip" >"$T_TMP/out" 2>&1
check "many-members.zip with --max-files 30000: FOUND" grep -q 'Eicar-Test-Signature FOUND' "$T_TMP/out"
finish
