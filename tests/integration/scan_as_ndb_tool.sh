#!/usr/bin/env bash
# ndb_scan_tool's command line on top of the real scanner, so ndb_diff.sh
# can compare `ampscansvc --scan` (engine + archive walk) with clamscan:
#   AMPSCANSVC=path scan_as_ndb_tool.sh --allmatch DB.ndb FILE...
set -u
[ "${1:-}" = --allmatch ] && shift
db=$1; shift
exec "$AMPSCANSVC" --scan --engine builtin --allmatch --allow-unsigned --defs "$db" "$@"
