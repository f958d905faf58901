# ovs-flexmap configure checks.  Each check stops with a message that says
# what is missing and which Debian package provides it.

dnl FLEXMAP_CHECK_OVS_SOURCE: --with-ovs-source=DIR|TARBALL, defaulting to
dnl Debian's openvswitch-source tarball.  The source must be OVS 3.1.x.
AC_DEFUN([FLEXMAP_CHECK_OVS_SOURCE], [
  AC_ARG_WITH([ovs-source],
    [AS_HELP_STRING([--with-ovs-source=DIR|TARBALL],
      [Open vSwitch 3.1 source tree or tarball to patch
       @<:@/usr/src/openvswitch/openvswitch.tar.gz@:>@])],
    [OVS_SOURCE=$withval],
    [OVS_SOURCE=/usr/src/openvswitch/openvswitch.tar.gz])
  AC_MSG_CHECKING([for the Open vSwitch source])
  AS_CASE([$OVS_SOURCE], [/*], [], [OVS_SOURCE=`pwd`/$OVS_SOURCE])
  if test -d "$OVS_SOURCE"; then
    if test ! -f "$OVS_SOURCE/vswitchd/ovs-vswitchd.c"; then
      AC_MSG_ERROR([$OVS_SOURCE is not an Open vSwitch source tree])
    fi
    OVS_SOURCE_KIND=dir
    ovs_version=`sed -n "s/^PACKAGE_VERSION='\\(.*\\)'/\\1/p" "$OVS_SOURCE/configure"`
  elif test -f "$OVS_SOURCE"; then
    OVS_SOURCE_KIND=tarball
    ovs_version=`tar xzOf "$OVS_SOURCE" --wildcards '*/configure' 2>/dev/null | sed -n "s/^PACKAGE_VERSION='\\(.*\\)'/\\1/p" | head -n 1`
  else
    AC_MSG_ERROR([no Open vSwitch source at $OVS_SOURCE.
Install Debian's openvswitch-source package (apt-get install
openvswitch-source) or pass --with-ovs-source=DIR|TARBALL.])
  fi
  AC_MSG_RESULT([$OVS_SOURCE (version $ovs_version)])
  AS_CASE([$ovs_version], [3.1.*], [],
    [AC_MSG_ERROR([ovs-flexmap's patches are for Open vSwitch 3.1, not "$ovs_version"])])
  AC_SUBST([OVS_SOURCE])
  AC_SUBST([OVS_SOURCE_KIND])
])

dnl FLEXMAP_CHECK_TOOLS: what it takes to re-bootstrap the patched OVS.
AC_DEFUN([FLEXMAP_CHECK_TOOLS], [
  AC_PATH_PROG([AUTORECONF], [autoreconf])
  AC_PATH_PROG([LIBTOOLIZE], [libtoolize])
  AC_PATH_PROG([PATCH], [patch])
  AC_PATH_PROG([PYTHON3], [python3])
  AC_PATH_PROG([AUTOM4TE], [autom4te])
  AC_PATH_PROG([CCACHE], [ccache])
  AS_IF([test -z "$AUTORECONF" || test -z "$AUTOM4TE"],
    [AC_MSG_ERROR([autoreconf/autom4te not found: install Debian's autoconf and automake packages])])
  AS_IF([test -z "$LIBTOOLIZE"],
    [AC_MSG_ERROR([libtoolize not found: install Debian's libtool package])])
  AS_IF([test -z "$PATCH"],
    [AC_MSG_ERROR([patch not found: install Debian's patch package])])
  AS_IF([test -z "$PYTHON3"],
    [AC_MSG_ERROR([python3 not found: install Debian's python3 package])])
])

dnl FLEXMAP_CHECK_DPDK: DPDK through pkg-config (Debian's libdpdk-dev).
AC_DEFUN([FLEXMAP_CHECK_DPDK], [
  PKG_CHECK_MODULES([DPDK], [libdpdk >= 22.11], [],
    [AC_MSG_ERROR([DPDK not found through pkg-config ($DPDK_PKG_ERRORS).
Install Debian's libdpdk-dev package.])])
  DPDK_VERSION=`$PKG_CONFIG --modversion libdpdk`
  AC_SUBST([DPDK_VERSION])
])

dnl FLEXMAP_CHECK_NUMA: libnuma, which OVS with DPDK needs.
AC_DEFUN([FLEXMAP_CHECK_NUMA], [
  AC_CHECK_HEADER([numa.h], [],
    [AC_MSG_ERROR([numa.h not found: install Debian's libnuma-dev package])])
  AC_CHECK_LIB([numa], [numa_available], [:],
    [AC_MSG_ERROR([libnuma not found: install Debian's libnuma-dev package])])
])

dnl FLEXMAP_CHECK_CHECK: the Check unit-test framework.
AC_DEFUN([FLEXMAP_CHECK_CHECK], [
  PKG_CHECK_MODULES([CHECK], [check >= 0.10], [],
    [AC_MSG_ERROR([Check not found ($CHECK_PKG_ERRORS).
Install Debian's check package.])])
])
