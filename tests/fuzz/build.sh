#!/bin/sh
# Builds the flexmap libFuzzer targets.
#
# Usage: tests/fuzz/build.sh [OUTDIR]
#
# OUTDIR defaults to /tmp/flexmap-fuzz.  The environment variable OVS names a
# configured and built Open vSwitch tree with the flexmap patches (default
# the build tree's ovs/); its lib/.libs/libopenvswitch.a supplies the rest of OVS.
# CC defaults to clang.
#
# lib/flexmap.c and lib/ofp-flexmap.c are compiled here, with the sanitizers
# and coverage instrumentation, and linked before libopenvswitch.a, so that
# the archive's own (uninstrumented) copies of them are not pulled in.  The
# rest of OVS comes uninstrumented from the archive.

set -e

OUT=${1:-/tmp/flexmap-fuzz}
CC=${CC:-clang}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OVS=${OVS:-$SRC/ovs}

if test ! -f "$OVS/lib/.libs/libopenvswitch.a"; then
    echo "$0: $OVS/lib/.libs/libopenvswitch.a not found (set OVS)" >&2
    exit 1
fi

# The libraries that OVS itself links with (DPDK, AF_XDP, ...).
LIBS=$(sed -n 's/^LIBS = //p' "$OVS/Makefile")

SAN="-fsanitize=fuzzer,address,undefined"
CFLAGS="-std=gnu11 -g -O1 -fno-sanitize-recover=undefined
        -fno-omit-frame-pointer -mssse3
        -Wall -Wextra -Wno-sign-compare -Wno-unused-parameter
        -Wno-missing-field-initializers"
INCLUDES="-I$OVS/include -I$OVS/lib -I$OVS -I$SRC/lib"

mkdir -p "$OUT"
for target in fuzz-flexmap-text fuzz-flexmap-wire gen-wire-corpus; do
    case $target in
        fuzz-*) san=$SAN ;;
        *) san="-fsanitize=address,undefined" ;;   # An ordinary program.
    esac
    echo "building $OUT/$target"
    # shellcheck disable=SC2086
    $CC $CFLAGS $san $INCLUDES \
        "$SRC/lib/flexmap.c" "$SRC/lib/ofp-flexmap.c" \
        "$SRC/tests/fuzz/$target.c" \
        "$OVS/lib/.libs/libopenvswitch.a" \
        $LIBS -lssl -lcrypto -lcap-ng -lpthread -lrt -lm \
        -o "$OUT/$target"
done
