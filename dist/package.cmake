# CPack: `cpack -G DEB` in a build directory makes ampscan_VERSION_ARCH.deb.
# tools/package does it from a release build (AMPSCAN_TESTING=OFF); a
# check below refuses to package binaries that hold the test hooks.
#
# The package always installs under /usr (files of /etc then go to /etc,
# and the maintainer scripts in dist/deb/ name /usr/lib/...).  Everything
# under /etc is a conffile (dist/deb/conffiles): dpkg keeps an
# administrator's edits.
set(AMPSCAN_PACKAGE_CONTACT "ampscan maintainers <maintainers@ampscan.invalid>"
	CACHE STRING "Maintainer field of the .deb")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ampscan)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${AMPSCAN_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
	"file scanning service with crash-isolated, unprivileged workers")
set(CPACK_PACKAGE_DESCRIPTION "ampdaemon, a root supervisor, runs a pool of unprivileged scan
workers (ampscansvc), keeps ClamAV-format definitions verified, speaks
the clamd protocol for clamdscan and clamd client libraries, and reports
problems as numbered faults.  ampctl controls and diagnoses the running
service; cvdtool verifies and builds definitions.")
# install into a staging DESTDIR with the real prefix, so that /etc stays /etc
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# the programs are stripped; their debug information goes into
# ampscan-dbgsym_VERSION_ARCH.ddeb (/usr/lib/debug/.build-id/, for gdb and
# the core dumps of CoreDumps yes)
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_LIST_DIR}/package-check.cmake")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# libraries from dpkg-shlibdeps; passwd for useradd (CreateScanUser)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "logrotate, clamdscan")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
	"${CMAKE_CURRENT_LIST_DIR}/deb/postinst"
	"${CMAKE_CURRENT_LIST_DIR}/deb/prerm"
	"${CMAKE_CURRENT_LIST_DIR}/deb/postrm"
	"${CMAKE_CURRENT_LIST_DIR}/deb/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
