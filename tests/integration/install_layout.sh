#!/usr/bin/env bash
# The installed layout (ARCHITECTURE.md, "Installed layout"): cmake --install
# into a DESTDIR with the prefix /usr puts every file where the package
# and systemd expect it, and nothing else; the unit passes
# systemd-analyze verify, the man pages render without a warning, the
# tmpfiles.d and sysusers.d entries make the directories and the account
# ampdaemon wants, the logrotate snippet parses, the installed ampdaemon
# accepts the installed configuration, and a second install keeps an
# edited configuration.  (The .deb itself: tools/package.)
#   install_layout.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
B=$1
R=$T_TMP/root

install_to() {  # install_to ROOT: cmake --install, output in $T_TMP/out
	DESTDIR=$1 cmake --install "$B" --prefix /usr >"$T_TMP/out" 2>"$T_TMP/err"
}
check "cmake --install --prefix /usr into a DESTDIR" install_to "$R"

expected=(
	etc/ampscan/ampdaemon.conf
	etc/logrotate.d/ampscan
	usr/bin/ampctl
	usr/bin/cvdtool
	usr/lib/systemd/system/ampdaemon.service
	usr/lib/sysusers.d/ampscan.conf
	usr/lib/tmpfiles.d/ampscan.conf
	usr/sbin/ampdaemon
	usr/sbin/ampscansvc
	usr/share/doc/ampscan/README.md
	usr/share/doc/ampscan/ampdaemon.conf.example
	usr/share/doc/ampscan/copyright
	usr/share/doc/ampscan/examples/clamonacc.conf.example
	usr/share/doc/ampscan/examples/freshclam.conf.example
	usr/share/man/man1/ampctl.1.gz
	usr/share/man/man1/cvdtool.1.gz
	usr/share/man/man8/ampdaemon.8.gz
	usr/share/man/man8/ampscansvc.8.gz
)
(cd "$R" && find . -type f -o -type l) | sed 's|^\./||' | sort >"$T_TMP/got"
printf '%s\n' "${expected[@]}" | sort >"$T_TMP/want"
check "exactly the expected files are installed" diff -u "$T_TMP/want" "$T_TMP/got"
for f in usr/sbin/ampdaemon usr/sbin/ampscansvc usr/bin/ampctl usr/bin/cvdtool; do
	check "$f is executable" [ -x "$R/$f" ]
done
mode() { stat -c %a "$1"; }
check "the configuration is mode 644" [ "$(mode "$R/etc/ampscan/ampdaemon.conf")" = 644 ]
check "it is the example" cmp -s "$R/etc/ampscan/ampdaemon.conf" \
	"$R/usr/share/doc/ampscan/ampdaemon.conf.example"
check "the freshclam example: every line a comment, ImportDirectory and NotifyClamd in it" \
	sh -c '! grep -qv "^#" "$1" && grep -qx "# ImportDirectory /var/lib/clamav" "$1" &&
	grep -qx "# NotifyClamd /etc/ampscan/clamd.conf" "$1"' sh \
	"$R/usr/share/doc/ampscan/examples/freshclam.conf.example"
check "the clamonacc example: every line a comment, both exclusions in it" \
	sh -c '! grep -qv "^#" "$1" && grep -qx "# OnAccessExcludeRootUID yes" "$1" &&
	grep -qx "# OnAccessExcludeUname cisco-amp-scan-svc" "$1"' sh \
	"$R/usr/share/doc/ampscan/examples/clamonacc.conf.example"

unit=$R/usr/lib/systemd/system/ampdaemon.service
check "the unit runs the installed ampdaemon in the foreground" \
	grep -qx 'ExecStart=/usr/sbin/ampdaemon --foreground --config /etc/ampscan/ampdaemon.conf' "$unit"
check "the unit is Type=notify" grep -qx 'Type=notify' "$unit"
check "no @VARIABLE@ is left in the unit" sh -c "! grep -q '@[A-Z_]*@' '$unit'"

# The installed ampdaemon: finds its configuration valid, its worker beside it.
expect_status 0 "the installed ampdaemon accepts the installed configuration" \
	"$R/usr/sbin/ampdaemon" --check-config --config "$R/etc/ampscan/ampdaemon.conf"
check "... with the default directories" grep -qx 'StateDir /var/lib/ampscan/state' "$T_TMP/out"
expect_status 0 "the installed ampscansvc runs" "$R/usr/sbin/ampscansvc" --version
expect_status 0 "the installed ampctl runs" "$R/usr/bin/ampctl" --version
expect_status 0 "the installed cvdtool runs" "$R/usr/bin/cvdtool" --help

# systemd-analyze verify checks the unit's keys, its commands and its
# man pages; it reports problems on stderr but exits 0 for most, so any
# output is a failure.  Its commands must exist: point them into $R.
if command -v systemd-analyze >/dev/null; then
	sed "s|^\(Exec[A-Za-z]*=\)/|\1$R/|" "$unit" >"$T_TMP/ampdaemon.service"
	verify() {
		MANPATH=$R/usr/share/man systemd-analyze verify "$T_TMP/ampdaemon.service" \
			>"$T_TMP/out" 2>"$T_TMP/err" && [ ! -s "$T_TMP/out" ] && [ ! -s "$T_TMP/err" ]
	}
	check "systemd-analyze verify: no complaint" verify
else
	echo "skip - systemd-analyze verify (systemd-analyze is not installed)"
fi

# The man pages: groff's warnings on, nothing on stderr.
if command -v man >/dev/null; then
	for p in man1/ampctl.1.gz man1/cvdtool.1.gz man8/ampdaemon.8.gz man8/ampscansvc.8.gz; do
		render() {
			MANWIDTH=80 man --warnings -l "$R/usr/share/man/$p" >"$T_TMP/out" 2>"$T_TMP/err" &&
				[ ! -s "$T_TMP/err" ] && grep -q '^NAME' "$T_TMP/out"
		}
		check "man -l $p renders without warnings" render
		# gzip -9n: no file name and no time stamp in the header (byte 3:
		# flags, bytes 4-7: time), so the package is the same every build
		check "$p is gzip'd without a name or a time" \
			test "$(od -An -tx1 -j3 -N5 "$R/usr/share/man/$p" | tr -d ' ')" = 0000000000
	done
else
	echo "skip - man pages (man is not installed)"
fi

# tmpfiles.d and sysusers.d, applied to $R itself.
if [ "$(id -u)" != 0 ]; then
	echo "skip - tmpfiles.d (needs root: the directories belong to root)"
elif command -v systemd-tmpfiles >/dev/null; then
	check "systemd-tmpfiles --create" systemd-tmpfiles --root="$R" --create \
		"$R/usr/lib/tmpfiles.d/ampscan.conf"
	for d in var/lib/ampscan var/lib/ampscan/defs var/lib/ampscan/state \
	    var/lib/ampscan/defs/{incoming,staging,previous,quarantine} var/log/ampscan; do
		check "$d: a directory, root, 750" [ "$(stat -c '%F %U %a' "$R/$d" 2>/dev/null)" = "directory root 750" ]
	done
	# read by the clamav workers through their descriptor; defs/ above stays 750
	check "var/lib/ampscan/defs/active: a directory, root, 755" \
		[ "$(stat -c '%F %U %a' "$R/var/lib/ampscan/defs/active" 2>/dev/null)" = "directory root 755" ]
	check "run/ampscan: root, 755" [ "$(stat -c '%U %a' "$R/run/ampscan" 2>/dev/null)" = "root 755" ]
else
	echo "skip - tmpfiles.d (systemd-tmpfiles is not installed)"
fi
if command -v systemd-sysusers >/dev/null; then
	: >"$R/etc/passwd"; : >"$R/etc/group"; : >"$R/etc/shadow"; : >"$R/etc/gshadow"
	check "systemd-sysusers creates the scan account" systemd-sysusers --root="$R" \
		"$R/usr/lib/sysusers.d/ampscan.conf"
	IFS=: read -r name _ uid gid _ home shell <"$R/etc/passwd"
	IFS=: read -r gname _ ggid _ <"$R/etc/group"
	user_ok() { [ "$name" = cisco-amp-scan-svc ] && [ "$uid" -gt 0 ]; }
	group_ok() { [ "$gname" = cisco-amp-scan-svc ] && [ "$ggid" = "$gid" ] && [ "$gid" -ge 100 ]; }
	login_ok() { [ "$shell" = /usr/sbin/nologin ] && [ "$home" = /nonexistent ]; }
	check "user cisco-amp-scan-svc, not root" user_ok
	check "primary group cisco-amp-scan-svc, not a privileged gid" group_ok
	check "no login, no home (as ampdaemon's account check wants)" login_ok
else
	echo "skip - sysusers.d (systemd-sysusers is not installed)"
fi

if command -v logrotate >/dev/null; then
	lr() { logrotate -d -s "$T_TMP/logrotate.state" "$R/etc/logrotate.d/ampscan" >"$T_TMP/out" 2>&1 &&
		! grep -qi 'error' "$T_TMP/out"; }
	check "logrotate parses the snippet" lr
	check "... for both logs" grep -q 'ampscansvc.log' "$T_TMP/out"
else
	echo "skip - logrotate snippet (logrotate is not installed)"
fi

# An administrator's edit survives a second install.
printf 'Workers 3\n' >>"$R/etc/ampscan/ampdaemon.conf"
check "a second install" install_to "$R"
check "... says it kept the edited configuration" grep -q 'Kept.*etc/ampscan/ampdaemon.conf' "$T_TMP/out"
check "... and kept it" grep -qx 'Workers 3' "$R/etc/ampscan/ampdaemon.conf"
finish
