#!/bin/bash
# Build a guest kernel for construir from Debian's kernel sources:
#   images/build-kernel.sh SOURCE_DEB CONFIG OUT_DIR
# SOURCE_DEB is a linux-source-X.Y .deb; CONFIG a config fragment (CONFIG_X=y lines)
# applied over `allnoconfig`, so the kernel has exactly what the fragment asks for and
# what it depends on. Writes OUT_DIR/vmlinux (an uncompressed ELF kernel that QEMU boots
# through PVH) and OUT_DIR/kernelrelease (what `uname -r` prints in the guest).
#
# Why: Debian's generic kernel spends most of a TCG boot on work a construir guest
# does not need (patching retpolines and other mitigations, probing hardware that is
# not there, loading virtio as modules); see images/README.md and docs/performance.md.
#
# Needs gcc, make, flex, bison, bc, libelf-dev (objtool), xz. Build time on 2 cores:
# a few minutes. The build is reproducible for the same source and fragment (fixed
# build user, host and timestamp).
set -euo pipefail
export LC_ALL=C
if [ $# -ne 3 ]; then
    echo "usage: $0 SOURCE_DEB CONFIG OUT_DIR" >&2
    exit 2
fi
SOURCE_DEB=$1 CONFIG=$2 OUT_DIR=$3
say() { printf 'build-kernel: %s\n' "$*"; }
die() { printf 'build-kernel: error: %s\n' "$*" >&2; exit 1; }
for tool in gcc make flex bison bc xz dpkg-deb strip; do
    command -v "$tool" >/dev/null || die "'$tool' not found (scripts/install-deps installs it)"
done
[ -f "$SOURCE_DEB" ] || die "$SOURCE_DEB not found"
[ -f "$CONFIG" ] || die "$CONFIG not found"
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
WORK=$OUT_DIR/.work
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

# The source tarball inside the package, unpacked without the C files of what no
# guest kernel builds (graphics, media, wireless, sound, other architectures): their
# Kconfig files and Makefiles stay, since Kconfig reads all of them.
say "unpacking $(basename "$SOURCE_DEB")"
dpkg-deb --fsys-tarfile "$SOURCE_DEB" | tar -x -C "$WORK" --wildcards './usr/src/linux-source-*.tar.xz'
tarball=$(echo "$WORK"/usr/src/linux-source-*.tar.xz)
[ -f "$tarball" ] || die "no linux-source tarball in $SOURCE_DEB"
top=$(basename "$tarball" .tar.xz)
excludes=()
for dir in drivers/gpu drivers/media drivers/staging drivers/infiniband drivers/net/wireless \
    drivers/net/ethernet drivers/scsi sound arch/{alpha,arc,arm,arm64,csky,hexagon,ia64,loongarch,m68k} \
    arch/{microblaze,mips,nios2,openrisc,parisc,powerpc,riscv,s390,sh,sparc,um,xtensa}; do
    excludes+=("--exclude=$top/$dir/*.[chS]")
done
tar -xJf "$tarball" -C "$WORK" "${excludes[@]}" --exclude="$top/Documentation/*.rst" \
    --exclude="$top/tools/testing"
rm -f "$tarball"
SRC=$WORK/$top

# allnoconfig plus the fragment; then every option the fragment names must have the
# value it asks for, or the build stops (a dependency the fragment forgot would
# otherwise drop an option silently, e.g. virtio_blk without BLK_DEV).
say "configuring from $(basename "$CONFIG")"
make -C "$SRC" -s allnoconfig KCONFIG_ALLCONFIG="$CONFIG" >/dev/null
bad=()
while IFS= read -r line; do
    line=${line%%#*}; line=${line//[[:space:]]/}
    [ -n "$line" ] || continue
    name=${line%%=*} value=${line#*=}
    if [ "$value" = n ]; then
        if grep -q "^$name=" "$SRC/.config"; then bad+=("$name is $(grep "^$name=" "$SRC/.config" | cut -d= -f2), not n"); fi
    else
        got=$(grep "^$name=" "$SRC/.config" | cut -d= -f2- || true)
        [ "$got" = "$value" ] || bad+=("$name is ${got:-not set}, not $value")
    fi
done < "$CONFIG"
[ "${#bad[@]}" -eq 0 ] || die "the configuration does not have what $(basename "$CONFIG") asks for: ${bad[*]}"

jobs=$(nproc)
say "building vmlinux with $jobs jobs"
# (one progress line per 100 compiler steps; make's errors go to stderr as they come)
if ! make -C "$SRC" -j"$jobs" vmlinux \
    KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970' KBUILD_BUILD_USER=construir \
    KBUILD_BUILD_HOST=construir KBUILD_BUILD_VERSION=1 \
    | awk '{ n++ } n % 100 == 0 { print "build-kernel: " n " steps, at " $2; fflush() } END { print "build-kernel: " n " steps" }'
then
    die "make vmlinux failed"
fi
release=$(make -C "$SRC" -s kernelrelease)
strip --strip-all -o "$WORK/vmlinux" "$SRC/vmlinux"
mv -f "$WORK/vmlinux" "$OUT_DIR/vmlinux"
printf '%s\n' "$release" > "$OUT_DIR/kernelrelease"
say "vmlinux $(stat -c %s "$OUT_DIR/vmlinux") bytes, kernel $release"
