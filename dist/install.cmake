# Install-time part of dist/CMakeLists.txt: runs inside cmake --install
# (and cpack), where CMAKE_INSTALL_PREFIX is the prefix of this install and
# file(INSTALL) adds $DESTDIR itself.

# /etc as GNUInstallDirs places it: /etc for the prefix /usr, else PREFIX/etc.
if(IS_ABSOLUTE "${AMPSCAN_SYSCONFDIR}")
	set(etc "${AMPSCAN_SYSCONFDIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
	set(etc "/${AMPSCAN_SYSCONFDIR}")
else()
	set(etc "${CMAKE_INSTALL_PREFIX}/${AMPSCAN_SYSCONFDIR}")
endif()

# The unit, with this install's paths.
set(AMPSCAN_CONFIG_FILE "${etc}/ampscan/ampdaemon.conf")
foreach(d SBINDIR BINDIR)
	if(IS_ABSOLUTE "${AMPSCAN_${d}}")
		set(CMAKE_INSTALL_FULL_${d} "${AMPSCAN_${d}}")
	else()
		set(CMAKE_INSTALL_FULL_${d} "${CMAKE_INSTALL_PREFIX}/${AMPSCAN_${d}}")
	endif()
endforeach()
configure_file("${AMPSCAN_DIST_SRC}/systemd/ampdaemon.service.in"
	"${AMPSCAN_DIST_BIN}/ampdaemon.service" @ONLY)
file(INSTALL "${AMPSCAN_DIST_BIN}/ampdaemon.service"
	DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

# The man pages, gzip -9n (reproducible: no name or time in the header).
if(IS_ABSOLUTE "${AMPSCAN_MANDIR}")
	set(mandir "${AMPSCAN_MANDIR}")
else()
	set(mandir "${CMAKE_INSTALL_PREFIX}/${AMPSCAN_MANDIR}")
endif()
foreach(page ampctl.1 cvdtool.1 ampdaemon.8 ampscansvc.8)
	string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section "${page}")
	execute_process(COMMAND gzip -9n -c "${AMPSCAN_DIST_SRC}/man/${page}"
		OUTPUT_FILE "${AMPSCAN_DIST_BIN}/${page}.gz" RESULT_VARIABLE rc)
	if(NOT rc EQUAL 0)
		message(FATAL_ERROR "gzip ${AMPSCAN_DIST_SRC}/man/${page}: ${rc}")
	endif()
	file(INSTALL "${AMPSCAN_DIST_BIN}/${page}.gz" DESTINATION "${mandir}/man${section}"
		PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()

# Files an administrator edits: installed only when absent, so that
# reinstalling never undoes an edit (in the .deb they are conffiles,
# which dpkg protects the same way).
function(ampscan_install_config src dir name)
	if(EXISTS "$ENV{DESTDIR}${dir}/${name}")
		message(STATUS "Kept (edited files are not replaced): $ENV{DESTDIR}${dir}/${name}")
		return()
	endif()
	file(INSTALL "${src}" DESTINATION "${dir}" RENAME "${name}"
		PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endfunction()
ampscan_install_config("${AMPSCAN_CONF_EXAMPLE}" "${etc}/ampscan" ampdaemon.conf)
ampscan_install_config("${AMPSCAN_DIST_SRC}/logrotate.d/ampscan" "${etc}/logrotate.d" ampscan)

if(AMPSCAN_TESTING)
	message(WARNING "this build has the test hooks (AMPSCAN_TESTING=ON): fine for tests, not for a machine; install a build configured with -DAMPSCAN_TESTING=OFF (or the .deb of tools/package)")
endif()
