#!/bin/bash
# Build construir build image 0 from Debian 12 packages:
#   IMAGES_DIR/0/vmlinux     uncompressed ELF kernel (QEMU boots it through PVH)
#   IMAGES_DIR/0/initrd.img  uncompressed newc initramfs: static busybox, bash, dash,
#                            GNU tar, xz, the virtio modules and
#                            images/agent/construir-agent as /init
#                            (guest protocol 4, docs/guest-protocol.md)
#   IMAGES_DIR/0/image.json  description, kernel command line, packages, sha256s
# It writes nothing outside IMAGES_DIR/0 and IMAGES_DIR/.cache: IMAGES_DIR/0 is generated
# and untracked, so a build against newer Debian packages never changes a tracked file.
#
# Usage: images/build-image0.sh [IMAGES_DIR]    (default: the directory of this script)
#
# Needs: apt-get with current package lists (run `apt-get update` once), dpkg-deb,
# xz, cpio, GNU grep. readelf (binutils) is used when present. No root needed.
# Downloads are cached in IMAGES_DIR/.cache/debs; re-running is safe, and with the
# same package versions produces byte-identical files.
#
# The kernel is built from Debian's kernel sources (package linux-source-6.1) with
# the options in images/kernel/construir.config, by images/build-kernel.sh (a few
# minutes; the result is cached in IMAGES_DIR/.cache/kernels, keyed by the source
# package, the options and the build script). Then virtio is built in and the
# initramfs holds no modules.
# CONSTRUIR_KERNEL_CONFIG=FILE        build with these options instead;
# CONSTRUIR_KERNEL_CONFIG=            (empty) use a Debian binary kernel instead:
#   CONSTRUIR_KERNEL_PACKAGE=linux-image-<ver>-amd64 picks one other than the one
#   linux-image-amd64 currently depends on.
# CONSTRUIR_KERNEL_PACKAGE=linux-source-X.Y picks the sources to build from.
#
# Used by `construir image build` for images with a root filesystem disk (images/recipes/):
#   CONSTRUIR_INITRAMFS_ONLY=DIR   write vmlinux, initrd.img and build-info (key=value lines:
#                                  kernel, modules, packages) to DIR; no image.json
#   CONSTRUIR_ROOT_MODULES="m..."  also put these modules (and their dependencies) in the
#                                  initramfs, listed in /etc/construir/root-modules: the agent
#                                  loads them and waits for the construir-root disk
#   CONSTRUIR_ROOT_FSTYPE=TYPE     the root disk's filesystem (/etc/construir/root-fstype)
#   CONSTRUIR_RECIPE_SHA256=HEX    recorded as "recipe_sha256" in image.json
set -euo pipefail
umask 022
export LC_ALL=C

CMDLINE='console=ttyS0 quiet cryptomgr.notests panic=-1 rdinit=/init construir.protocol=4 pci=noacpi rodata=off mitigations=off tsc=reliable no_timer_check lsm=capability'

# Userland packages; every shared library that the PROGRAMS need must come from
# one of them (the build stops and names the library otherwise).
USERLAND_PACKAGES=(busybox-static bash dash tar xz-utils coreutils findutils
    libc6 libtinfo6 libacl1 libselinux1 libpcre2-8-0 liblzma5)
# Real programs copied to /bin (paths inside the packages; first one found wins).
PROGRAMS=(bin/bash bin/dash bin/tar usr/bin/xz usr/bin/env usr/bin/timeout usr/bin/find usr/bin/xargs)
# Extra names in /bin: NAME=TARGET.
PROGRAM_LINKS=(sh=dash unxz=xz xzcat=xz)
# Kernel modules to load (their dependencies are added, in load order).
IMAGE_MODULES=(virtio_pci virtio_blk)
# busybox applets to link in /bin. The static busybox runs its own applet instead
# of searching PATH whenever it starts a program by name (Debian builds it with
# FEATURE_PREFER_APPLETS): busybox sh, env, xargs, find -exec or timeout would run
# busybox tar or busybox xz (which cannot compress; GNU tar -J runs xz through
# /bin/sh). So sh is dash, env/timeout/find/xargs are the GNU programs, and no
# applet that runs other programs (nice, nohup, chroot, setsid, time, watch...) is
# linked. Static rather than Debian's dynamic busybox: a static exec costs about
# 9 ms under TCG, a dynamic one about 37 ms.
BUSYBOX_APPLETS=(
    '[' awk base64 basename bunzip2 bzcat bzip2 cat chgrp chmod chown cmp cp cpio cut
    date dd df diff dirname dmesg du echo egrep expr false fgrep free grep
    gunzip gzip head hexdump hostname id insmod kill less ln ls lsmod md5sum mkdir
    mkfifo mknod mktemp more mount mv nproc od paste patch pidof poweroff printf ps
    pwd readlink realpath reboot rm rmdir sed seq sha1sum sha256sum sha512sum
    sleep sort stat strings sync tac tail tee test touch tr true truncate
    umount uname uniq unzip uptime wc which whoami xxd yes zcat
)

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
AGENT_SRC=$SCRIPT_DIR/agent/construir-agent
IMAGES_DIR=${1:-$SCRIPT_DIR}
mkdir -p "$IMAGES_DIR"
IMAGES_DIR=$(cd "$IMAGES_DIR" && pwd)
OUT_DIR=$IMAGES_DIR/0
CACHE=$IMAGES_DIR/.cache
DEB_CACHE=$CACHE/debs
WORK=$CACHE/work-image0
INITRAMFS_ONLY=${CONSTRUIR_INITRAMFS_ONLY:-}
read -r -a ROOT_MODULES <<<"${CONSTRUIR_ROOT_MODULES:-}"
ROOT_FSTYPE=${CONSTRUIR_ROOT_FSTYPE:-}
RECIPE_SHA256=${CONSTRUIR_RECIPE_SHA256:-}
if [ -n "$INITRAMFS_ONLY" ]; then
    mkdir -p "$INITRAMFS_ONLY"
    OUT_DIR=$(cd "$INITRAMFS_ONLY" && pwd)
    WORK=$CACHE/work-initramfs-${OUT_DIR//\//_}
fi

say() { printf 'build-image0: %s\n' "$*"; }
die() { printf 'build-image0: error: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg-deb xz cpio grep sha256sum touch; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done
[ -f "$AGENT_SRC" ] || die "agent not found at $AGENT_SRC"

APT_OPTS=()
if [ "$(id -u)" = 0 ]; then
    # As root apt drops to user _apt, who cannot write to arbitrary directories.
    APT_OPTS=(-o APT::Sandbox::User=root)
fi

rm -rf "$WORK"
mkdir -p "$DEB_CACHE" "$WORK" "$OUT_DIR"
trap 'rm -rf "$WORK"' EXIT

# --- packages --------------------------------------------------------------

# fetch_debs PKG...: make sure the current candidate .deb of each PKG is in the
# cache (checked against the archive's SHA256); sets DEB_FILE[PKG] to its path.
declare -A DEB_FILE=()
fetch_debs() {
    local uris line uri file size hash pkg
    # (in an empty directory: apt prints nothing for a package whose file is in the current one)
    uris=$(cd "$WORK" && apt-get "${APT_OPTS[@]}" download --print-uris "$@" 2>&1) \
        || die "apt cannot find some of: $*; are the package lists there? Run: apt-get update
$uris"
    for pkg in "$@"; do
        line=$(awk -v f="${pkg}_" 'index($2, f) == 1 { print; exit }' <<<"$uris")
        [ -n "$line" ] || die "apt gave no download for '$pkg'; run: apt-get update"
        read -r uri file size hash <<<"$line"
        if ! [ -f "$DEB_CACHE/$file" ] || ! [[ $hash == SHA256:* ]] \
            || [ "$(sha256sum < "$DEB_CACHE/$file" | cut -d' ' -f1)" != "${hash#SHA256:}" ]; then
            say "downloading $pkg"
            (cd "$DEB_CACHE" && apt-get "${APT_OPTS[@]}" -q download "$pkg" >/dev/null) \
                || die "apt-get download $pkg failed (if the package lists are missing or old: apt-get update)"
            [ -f "$DEB_CACHE/$file" ] || die "apt-get download $pkg did not produce $file"
        fi
        DEB_FILE[$pkg]=$DEB_CACHE/$file
    done
    # Forget packages of earlier builds (e.g. the previous kernel).
    local keep=" ${DEB_FILE[*]} " old
    for old in "$DEB_CACHE"/*.deb; do
        [ -e "$old" ] || continue
        if [[ $keep != *" $old "* ]]; then
            say "removing old ${old##*/} from the cache"
            rm -f "$old"
        fi
    done
}

KERNEL_CONFIG=${CONSTRUIR_KERNEL_CONFIG-$SCRIPT_DIR/kernel/construir.config}
KERNEL_PACKAGE=${CONSTRUIR_KERNEL_PACKAGE:-}
if [ -n "$KERNEL_CONFIG" ]; then
    [ -f "$KERNEL_CONFIG" ] || die "kernel options $KERNEL_CONFIG not found"
    KERNEL_PACKAGE=${KERNEL_PACKAGE:-linux-source-6.1}
    [[ $KERNEL_PACKAGE == linux-source-* ]] || die "a kernel built from options needs a linux-source package, not $KERNEL_PACKAGE"
elif [ -z "$KERNEL_PACKAGE" ]; then
    KERNEL_PACKAGE=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }') || true
    [ -n "$KERNEL_PACKAGE" ] \
        || die "cannot resolve linux-image-amd64 to a kernel package; run: apt-get update"
fi
KVER=${KERNEL_PACKAGE#linux-image-}   # (for a built kernel: its release, below)
say "kernel package $KERNEL_PACKAGE${KERNEL_CONFIG:+, built with ${KERNEL_CONFIG##*/}}"

PACKAGE_LINES=()
KSTAGE=$WORK/kernel
STAGE=$WORK/userland
mkdir -p "$KSTAGE" "$STAGE"
fetch_debs "$KERNEL_PACKAGE" "${USERLAND_PACKAGES[@]}"
for pkg in "$KERNEL_PACKAGE" "${USERLAND_PACKAGES[@]}"; do
    deb=${DEB_FILE[$pkg]}
    PACKAGE_LINES+=("$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)")
    if [ "$pkg" = "$KERNEL_PACKAGE" ]; then
        [ -z "$KERNEL_CONFIG" ] || continue   # the sources go to build-kernel.sh as they are
        dest=$KSTAGE
    else
        dest=$STAGE
    fi
    dpkg-deb -x "$deb" "$dest"
done
say "unpacked ${#PACKAGE_LINES[@]} packages"

# --- kernel: built from the sources, or the ELF inside Debian's bzImage ----------

if [ -n "$KERNEL_CONFIG" ]; then
    key=$(cat "${DEB_FILE[$KERNEL_PACKAGE]}" "$KERNEL_CONFIG" "$SCRIPT_DIR/build-kernel.sh" | sha256sum | cut -c1-16)
    KCACHE=$CACHE/kernels/$key
    if [ -f "$KCACHE/vmlinux" ] && [ -f "$KCACHE/kernelrelease" ]; then
        say "kernel: cached build $key"
    else
        say "building the kernel from $KERNEL_PACKAGE with ${KERNEL_CONFIG##*/} (cached as $key)"
        rm -rf "$CACHE/kernels"   # keep only the build in use
        "$SCRIPT_DIR/build-kernel.sh" "${DEB_FILE[$KERNEL_PACKAGE]}" "$KERNEL_CONFIG" "$KCACHE.partial"
        mv "$KCACHE.partial" "$KCACHE"
    fi
    cp "$KCACHE/vmlinux" "$WORK/vmlinux"
    read -r KVER < "$KCACHE/kernelrelease"
    IMAGE_MODULES=()            # virtio is built in
    [ "${#ROOT_MODULES[@]}" -eq 0 ] || say "root filesystem modules ${ROOT_MODULES[*]}: expected built in"
    ROOT_MODULES=()
fi

if [ -z "$KERNEL_CONFIG" ]; then
VMLINUZ=$KSTAGE/boot/vmlinuz-$KVER
[ -f "$VMLINUZ" ] || die "$VMLINUZ not found in $KERNEL_PACKAGE"
say "extracting vmlinux from vmlinuz-$KVER"
found=''
for off in $(grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$VMLINUZ" | cut -d: -f1); do
    # (xz stops at the end of its stream; tail then gets SIGPIPE, hence no pipe here)
    if xz -dc --single-stream < <(tail -c "+$((off + 1))" "$VMLINUZ") > "$WORK/vmlinux" 2>/dev/null \
        && [ "$(head -c 4 "$WORK/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        found=$off
        break
    fi
done
[ -n "$found" ] || die "no xz-compressed ELF kernel found in $VMLINUZ"
fi

# --- initramfs tree ----------------------------------------------------------

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,etc/construir,lib/x86_64-linux-gnu,lib64,usr,proc,sys,run,mnt,root,tmp}
chmod 700 "$ROOT/root"
chmod 1777 "$ROOT/tmp"
ln -s bin "$ROOT/sbin"
ln -s ../bin "$ROOT/usr/bin"
ln -s ../bin "$ROOT/usr/sbin"
ln -s ../lib "$ROOT/usr/lib"

# stage_file NAME...: the first of the given staging-relative paths that exists.
stage_file() {
    local p
    for p in "$@"; do
        if [ -e "$STAGE/$p" ]; then printf '%s\n' "$STAGE/$p"; return 0; fi
    done
    return 1
}
# copy_real SRC DEST: copy a staged file, following symlinks inside the staging dir.
copy_real() {
    local src=$1 target n=0
    while [ -L "$src" ]; do
        target=$(readlink "$src")
        case $target in
            /*) src=$STAGE$target ;;
            *) src=$(dirname "$src")/$target ;;
        esac
        n=$((n + 1)); [ "$n" -lt 20 ] || die "symlink loop at $1"
    done
    cp "$src" "$2"
    chmod 755 "$2"
}

BUSYBOX=$(stage_file bin/busybox usr/bin/busybox) || die "busybox not found in busybox-static"
copy_real "$BUSYBOX" "$ROOT/bin/busybox"
PROGRAM_FILES=()
for prog in "${PROGRAMS[@]}"; do
    name=${prog##*/}
    src=$(stage_file "$prog" "usr/$prog" "${prog#usr/}") || die "$prog not found in the staged packages"
    copy_real "$src" "$ROOT/bin/$name"
    PROGRAM_FILES+=("$src")
done
for link in "${PROGRAM_LINKS[@]}"; do
    ln -s "${link#*=}" "$ROOT/bin/${link%%=*}"
done

# Shared libraries, resolved recursively against the staged packages.
LIB_DIRS=(lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 lib usr/lib)
declare -A LIB_SRC=()
# needed_libs FILE: the DT_NEEDED sonames of FILE.
if command -v readelf >/dev/null && [ -z "${CONSTRUIR_NO_READELF:-}" ]; then
    needed_libs() {
        readelf -dW "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\].*/\1/p'
    }
else
    # Without binutils: ask the staged dynamic loader, limited to the staged libraries.
    STAGED_LDSO=$(stage_file lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 lib64/ld-linux-x86-64.so.2) \
        || die "ld-linux-x86-64.so.2 not found in the staged libc6"
    STAGED_LIBPATH=$(printf "$STAGE/%s:" "${LIB_DIRS[@]}")
    needed_libs() {
        "$STAGED_LDSO" --library-path "${STAGED_LIBPATH%:}" --list "$1" \
            | awk '$2 == "=>" || $1 ~ /^\// { n = split($1, p, "/"); print p[n] }' | sort -u
    }
fi
add_libs() {
    local lib d path
    for lib in $(needed_libs "$1"); do
        [ -z "${LIB_SRC[$lib]:-}" ] || continue
        path=''
        for d in "${LIB_DIRS[@]}"; do
            if [ -e "$STAGE/$d/$lib" ]; then path=$STAGE/$d/$lib; break; fi
        done
        [ -n "$path" ] || die "library $lib (needed by ${1#"$STAGE"/}) is in none of the staged packages; add its package to USERLAND_PACKAGES"
        LIB_SRC[$lib]=$path
        add_libs "$path"
    done
}
for bin in "${PROGRAM_FILES[@]}"; do add_libs "$bin"; done
INTERP=/lib64/ld-linux-x86-64.so.2
if command -v readelf >/dev/null && [ -z "${CONSTRUIR_NO_READELF:-}" ]; then
    INTERP=$(readelf -lW "${PROGRAM_FILES[0]}" | sed -n 's/.*\[Requesting program interpreter: \(.*\)\]/\1/p')
fi
[ -n "${LIB_SRC[${INTERP##*/}]:-}" ] || die "the dynamic loader ${INTERP##*/} was not resolved"
for lib in "${!LIB_SRC[@]}"; do
    copy_real "${LIB_SRC[$lib]}" "$ROOT/lib/x86_64-linux-gnu/$lib"
    chmod 644 "$ROOT/lib/x86_64-linux-gnu/$lib"
done
chmod 755 "$ROOT/lib/x86_64-linux-gnu/${INTERP##*/}"
if [ "$INTERP" != "/lib/x86_64-linux-gnu/${INTERP##*/}" ]; then
    mkdir -p "$ROOT$(dirname "$INTERP")"
    ln -s "/lib/x86_64-linux-gnu/${INTERP##*/}" "$ROOT$INTERP"
fi
available=" $("$ROOT/bin/busybox" --list | tr '\n' ' ') "
for applet in "${BUSYBOX_APPLETS[@]}"; do
    if [[ $available == *" $applet "* ]]; then
        ln -s busybox "$ROOT/bin/$applet"
    else
        say "warning: busybox has no applet '$applet'"
    fi
done

say "libraries: $(printf '%s\n' "${!LIB_SRC[@]}" | sort | tr '\n' ' ')"

# Kernel modules. Debian's package has no modules.dep (depmod makes it when the
# package is installed), so the dependencies come from each module's modinfo
# "depends=" field, which is what depmod uses too.
KMOD_DIR=$KSTAGE/lib/modules/$KVER
[ -n "$KERNEL_CONFIG" ] || [ -d "$KMOD_DIR/kernel" ] || die "$KMOD_DIR/kernel not found"
declare -A MOD_PATH=() MOD_SEEN=()
while IFS= read -r rel; do
    name=${rel##*/}; name=${name%%.ko*}; name=${name//-/_}
    MOD_PATH[$name]=$rel
done < <(cd "$KMOD_DIR" 2>/dev/null && find kernel -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
module_cat() {
    case $1 in
        *.ko.xz) xz -dc "$1" ;;
        *.ko.zst) zstd -dcq "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) cat "$1" ;;
    esac
}
MOD_ORDER=()
add_module() {
    local name=${1//-/_} dep deps
    [ -z "${MOD_SEEN[$name]:-}" ] || return 0
    MOD_SEEN[$name]=1
    if [ -z "${MOD_PATH[$name]:-}" ]; then
        if grep -q "/${name}.ko\$" "$KMOD_DIR/modules.builtin" 2>/dev/null \
            || grep -q "/${name//_/-}.ko\$" "$KMOD_DIR/modules.builtin" 2>/dev/null; then
            return 0   # built into this kernel
        fi
        die "kernel module $name not found in $KERNEL_PACKAGE"
    fi
    deps=$(module_cat "$KMOD_DIR/${MOD_PATH[$name]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1)
    for dep in ${deps//,/ }; do add_module "$dep"; done
    MOD_ORDER+=("$name")
}
for m in "${IMAGE_MODULES[@]}"; do add_module "$m"; done
BOOT_MODULES=("${MOD_ORDER[@]}")
MOD_ORDER=()
for m in "${ROOT_MODULES[@]}"; do add_module "$m"; done
ROOT_MOD_ORDER=("${MOD_ORDER[@]}")
MOD_ORDER=("${BOOT_MODULES[@]}")
# strip_signature FILE: drop the signature Debian appends to a module (the magic
# "~Module signature appended~\n" after a 12-byte header ending in the signature's
# big-endian length). The kernel then loads it without checking the signature, which
# under TCG costs tens of milliseconds a module; the guest gains nothing from the
# check, since the initramfs is ours and the job is root in the guest anyway.
strip_signature() {
    local file=$1 size magic siglen
    magic='~Module signature appended~'
    size=$(stat -c %s "$file")
    [ "$size" -gt 40 ] || return 0
    [ "$(tail -c 28 "$file" | head -c 27)" = "$magic" ] || return 0
    siglen=$(tail -c 32 "$file" | head -c 4 | od -An -tu1 | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
    [ "$siglen" -gt 0 ] && [ "$((siglen + 40))" -lt "$size" ] || die "bad module signature in $file"
    truncate -s "$((size - siglen - 40))" "$file"
}
# install_modules LIST NAME...: copy the modules into the initramfs, listed in load order.
install_modules() {
    local list=$1 name rel dest
    shift
    : > "$ROOT/etc/construir/$list"
    for name in "$@"; do
        rel=${MOD_PATH[$name]}
        dest=lib/modules/$KVER/${rel%.ko*}.ko
        mkdir -p "$ROOT/$(dirname "$dest")"
        module_cat "$KMOD_DIR/$rel" > "$ROOT/$dest"
        strip_signature "$ROOT/$dest"
        chmod 644 "$ROOT/$dest"
        printf '/%s\n' "$dest" >> "$ROOT/etc/construir/$list"
    done
}
install_modules modules "${MOD_ORDER[@]}"
say "modules (load order): ${MOD_ORDER[*]}"
if [ "${#ROOT_MODULES[@]}" -gt 0 ]; then
    install_modules root-modules "${ROOT_MOD_ORDER[@]}"
    say "root filesystem modules (load order): ${ROOT_MOD_ORDER[*]}"
fi
if [ -n "$ROOT_FSTYPE" ]; then
    printf '%s\n' "$ROOT_FSTYPE" > "$ROOT/etc/construir/root-fstype"
fi

printf 'root:x:0:0:root:/root:/bin/bash\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
ln -s ../proc/mounts "$ROOT/etc/mtab"
printf '%s\n' "$KVER" > "$ROOT/etc/construir/kernel-version"
cp "$AGENT_SRC" "$ROOT/init"
chmod 755 "$ROOT/init"

# --- initramfs archive ---------------------------------------------------------

# newc_entry NAME MODE(octal) INO RDEV_MAJOR RDEV_MINOR NLINK: one header, no data.
newc_entry() {
    local namesize=$(( ${#1} + 1 ))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$3" "$((8#$2))" 0 0 "$6" 0 0 0 0 "$4" "$5" "$namesize" 0
    printf '%s\0' "$1"
    head -c $(( (4 - (110 + namesize) % 4) % 4 )) /dev/zero
}
say "writing initrd.img"
# /dev/console must exist before /init runs (the kernel opens it for init's
# stdin/stdout/stderr); a device node cannot be made without root, so this first
# small archive is written by hand. The kernel unpacks concatenated archives.
{
    newc_entry dev 040755 1 0 0 2
    newc_entry dev/console 020600 2 5 1 1
    newc_entry 'TRAILER!!!' 0 0 0 0 1
} > "$WORK/initrd.img"
find "$ROOT" -exec touch -h -d @0 {} +
(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | sort \
    | cpio -o -H newc -R 0:0 --reproducible --quiet) >> "$WORK/initrd.img"

# --- outputs -------------------------------------------------------------------

mv -f "$WORK/vmlinux" "$OUT_DIR/vmlinux"
mv -f "$WORK/initrd.img" "$OUT_DIR/initrd.img"
if [ -n "$INITRAMFS_ONLY" ]; then
    {
        printf 'kernel_version=%s\n' "$KVER"
        printf 'kernel_package=%s\n' "$KERNEL_PACKAGE"
        printf 'modules=%s\n' "${MOD_ORDER[*]}"
        printf 'root_modules=%s\n' "${ROOT_MOD_ORDER[*]}"
        printf 'cmdline=%s\n' "$CMDLINE"
        printf 'package=%s\n' "${PACKAGE_LINES[@]}"
    } > "$OUT_DIR/build-info"
    say "done: $OUT_DIR (initramfs only)"
    exit 0
fi
VMLINUX_SHA=$(sha256sum < "$OUT_DIR/vmlinux" | cut -d' ' -f1)
INITRD_SHA=$(sha256sum < "$OUT_DIR/initrd.img" | cut -d' ' -f1)
VMLINUX_SIZE=$(stat -c %s "$OUT_DIR/vmlinux")
INITRD_SIZE=$(stat -c %s "$OUT_DIR/initrd.img")
KERNEL_DESCRIPTION="Debian 12 kernel $KVER"
[ -z "$KERNEL_CONFIG" ] || KERNEL_DESCRIPTION="Linux $KVER built from Debian 12's $KERNEL_PACKAGE with ${KERNEL_CONFIG##*/}"
DESCRIPTION="$KERNEL_DESCRIPTION (uncompressed vmlinux, PVH boot) with an initramfs of busybox, bash, dash, GNU tar and xz running construir-agent (guest protocol 4)"

json_str() { local s=$1; s=${s//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
{
    printf '{\n'
    printf '  "index": 0,\n'
    printf '  "description": %s,\n' "$(json_str "$DESCRIPTION")"
    printf '  "protocol": 4,\n'
    printf '  "kernel": "vmlinux",\n'
    printf '  "initrd": "initrd.img",\n'
    printf '  "cmdline": %s,\n' "$(json_str "$CMDLINE")"
    printf '  "kernel_version": %s,\n' "$(json_str "$KVER")"
    if [ -n "$RECIPE_SHA256" ]; then printf '  "recipe_sha256": %s,\n' "$(json_str "$RECIPE_SHA256")"; fi
    printf '  "packages": [\n'
    sorted=$(printf '%s\n' "${PACKAGE_LINES[@]}" | sort)
    n=$(printf '%s\n' "$sorted" | wc -l); i=0
    while IFS= read -r line; do
        i=$((i + 1)); sep=','; [ "$i" -lt "$n" ] || sep=''
        printf '    %s%s\n' "$(json_str "$line")" "$sep"
    done <<<"$sorted"
    printf '  ],\n'
    printf '  "files": {\n'
    printf '    "vmlinux": "%s",\n' "$VMLINUX_SHA"
    printf '    "initrd.img": "%s"\n' "$INITRD_SHA"
    printf '  }\n'
    printf '}\n'
} > "$WORK/image.json"
mv -f "$WORK/image.json" "$OUT_DIR/image.json"

say "vmlinux    $VMLINUX_SIZE bytes  sha256 $VMLINUX_SHA"
say "initrd.img $INITRD_SIZE bytes  sha256 $INITRD_SHA"
say "done: $OUT_DIR"
