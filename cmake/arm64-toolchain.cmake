# Cross-compiles tandem for arm64 (aarch64) with Debian's cross toolchain
# (crossbuild-essential-arm64) against Debian's arm64 libraries unpacked into
# a sysroot by scripts/build-arm64.sh. The compiler keeps its own C library
# (/usr/aarch64-linux-gnu, from the cross toolchain, the same glibc as the
# arm64 libc6); every other library, header, pkg-config file and CMake
# package comes from the sysroot, never from the build machine's /usr.
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/arm64-toolchain.cmake -DTANDEM_SYSROOT=DIR ...
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

if(NOT TANDEM_SYSROOT)
  set(TANDEM_SYSROOT "$ENV{TANDEM_SYSROOT}")
endif()
if(NOT TANDEM_SYSROOT OR NOT EXISTS "${TANDEM_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "arm64-toolchain: TANDEM_SYSROOT (${TANDEM_SYSROOT}) is not an arm64 sysroot; "
                      "scripts/build-arm64.sh makes one")
endif()
# try_compile projects see the variable too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TANDEM_SYSROOT)

set(CMAKE_FIND_ROOT_PATH "${TANDEM_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${TANDEM_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${TANDEM_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${TANDEM_SYSROOT}/usr/share/pkgconfig")

# The libraries' own dependencies (libtorch's many) are found in the sysroot
# when linking; at run time the device's loader finds them in its /usr/lib.
set(_tandem_libdirs
    "${TANDEM_SYSROOT}/usr/lib/aarch64-linux-gnu"
    "${TANDEM_SYSROOT}/lib/aarch64-linux-gnu"
    "${TANDEM_SYSROOT}/usr/lib/aarch64-linux-gnu/openblas-pthread"
    "${TANDEM_SYSROOT}/usr/lib")
string(REPLACE ";" ":" _tandem_rpath_link "${_tandem_libdirs}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_tandem_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_tandem_rpath_link}")
