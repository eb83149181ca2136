#!/usr/bin/env bash
# ImportDirectory's inotify watch when the directory comes and goes
# (issue 18; importdir.c, importdir_rewatch):
#   - a directory missing at start (freshclam installed later): ampdaemon
#     starts, status says NOT watched and why;
#   - it appears: the next read (a RELOAD here; else the 60 s retry)
#     watches it, and a container renamed into it is imported by inotify
#     alone;
#   - it is removed: the watch ends with a warning, status says so; made
#     again and read (RELOAD), it is watched again and imports.
#   defs_import_watch.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
dl_init "$1" "$2"
cd "$T_TMP"

FC=$T_TMP/fc
version_is() { dl_wait "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo'] == [$1]" "${2:-60}"; }
# drop VERSION: a signed demo.cvd of that version renamed into $FC, as freshclam writes
drop() {
	mkdir -p "$T_TMP/v$1"   # the set's name comes from the file's: demo
	dl_build_cvd "$T_TMP/v$1/demo.cvd" "$1"
	cp "$T_TMP/v$1/demo.cvd" "$FC/.demo.tmp"
	mv "$FC/.demo.tmp" "$FC/demo.cvd"
}

dl_config ImportDirectory "$FC"
check "ampdaemon starts with ImportDirectory missing" dl_start
check "both workers READY" dl_wait_ready 2
check "status: not watched" test "$(dl_status_py "s['import']['watched']")" = False
check "status: why, naming the directory" dl_wait "'$FC' in (s['import']['watch_error'] or '')"
dl_ctl status >"$T_TMP/st" 2>&1
check "ampctl status says NOT WATCHED" grep -q "NOT WATCHED" "$T_TMP/st"

mkdir "$FC"
dl_ctl reload >"$T_TMP/out" 2>&1
check "after a RELOAD: watched" dl_wait "s['import']['watched'] and s['import']['watch_error'] is None"
check "the log says so" grep -q "import: $FC is watched now (inotify)" "$DL_LOG"
v=$(dl_status_py "[d['version'] for d in s['definitions']['databases'] if d['name'] == 'demo'][0]")
drop $((v + 1))
check "a container renamed into it is imported (inotify alone)" version_is $((v + 1))
check "... read because of inotify" dl_wait "s['import']['last_read']['why'] in ('inotify', 'after an import')"

rm -rf "$FC"
check "the directory removed: not watched" dl_wait "not s['import']['watched']"
check "a warning in the log" grep -q "import: $FC: the watch ended (the directory was removed or moved)" "$DL_LOG"
mkdir "$FC"
dl_ctl reload >"$T_TMP/out" 2>&1
check "made again, after a RELOAD: watched again" dl_wait "s['import']['watched']"
drop $((v + 2))
check "and a new container is imported" version_is $((v + 2))
dl_stop_checked
finish
