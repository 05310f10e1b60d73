# Cross-compiles tandem for arm64 (aarch64) or armhf (32-bit ARM) with Debian's
# cross toolchain (crossbuild-essential-ARCH) against Debian's libraries for
# that architecture, unpacked into a sysroot by scripts/cross-sysroot.sh. The
# compiler keeps its own C library (/usr/TRIPLET, from the cross toolchain: the
# same glibc as the architecture's libc6); every other library, header,
# pkg-config file and CMake package comes from the sysroot, never from the
# build machine's /usr. Test binaries run under qemu-user-static (ctest, and
# Catch2's test discovery at build time).
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/cross-toolchain.cmake -DTANDEM_SYSROOT=DIR \
#         [-DTANDEM_CROSS_ARCH=arm64|armhf] ...
if(NOT TANDEM_CROSS_ARCH)
  set(TANDEM_CROSS_ARCH "$ENV{TANDEM_CROSS_ARCH}")
endif()
if(NOT TANDEM_CROSS_ARCH)
  set(TANDEM_CROSS_ARCH arm64)
endif()
if(TANDEM_CROSS_ARCH STREQUAL "arm64")
  set(_tandem_triplet aarch64-linux-gnu)
  set(CMAKE_SYSTEM_PROCESSOR aarch64)
  set(_tandem_qemu qemu-aarch64-static)
elseif(TANDEM_CROSS_ARCH STREQUAL "armhf")
  set(_tandem_triplet arm-linux-gnueabihf)
  set(CMAKE_SYSTEM_PROCESSOR arm)
  set(_tandem_qemu qemu-arm-static)
  # GCC notes on every std::map of json that the ARM ABI changed in GCC 7.1:
  # nothing here mixes objects built by GCC 6 and 7.
  set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
else()
  message(FATAL_ERROR "cross-toolchain: TANDEM_CROSS_ARCH=${TANDEM_CROSS_ARCH}: arm64 or armhf")
endif()
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${_tandem_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${_tandem_triplet}-g++)

if(NOT TANDEM_SYSROOT)
  set(TANDEM_SYSROOT "$ENV{TANDEM_SYSROOT}")
endif()
if(NOT TANDEM_SYSROOT OR NOT EXISTS "${TANDEM_SYSROOT}/usr/lib/${_tandem_triplet}")
  message(FATAL_ERROR "cross-toolchain: TANDEM_SYSROOT (${TANDEM_SYSROOT}) is not a ${TANDEM_CROSS_ARCH} sysroot; "
                      "scripts/cross-sysroot.sh makes one")
endif()
# try_compile projects see the variables too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TANDEM_SYSROOT TANDEM_CROSS_ARCH)

set(CMAKE_FIND_ROOT_PATH "${TANDEM_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE ${_tandem_triplet})
set(CMAKE_CROSSCOMPILING_EMULATOR ${_tandem_qemu} -L ${TANDEM_SYSROOT})

set(ENV{PKG_CONFIG_SYSROOT_DIR} "${TANDEM_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR} "${TANDEM_SYSROOT}/usr/lib/${_tandem_triplet}/pkgconfig:${TANDEM_SYSROOT}/usr/share/pkgconfig")

# The libraries' own dependencies (libtorch's many) are found in the sysroot
# when linking; at run time the device's loader finds them in its /usr/lib.
set(_tandem_libdirs
    "${TANDEM_SYSROOT}/usr/lib/${_tandem_triplet}"
    "${TANDEM_SYSROOT}/lib/${_tandem_triplet}"
    "${TANDEM_SYSROOT}/usr/lib/${_tandem_triplet}/openblas-pthread"
    "${TANDEM_SYSROOT}/usr/lib")
string(REPLACE ";" ":" _tandem_rpath_link "${_tandem_libdirs}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_tandem_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_tandem_rpath_link}")
