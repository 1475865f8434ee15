#!/bin/bash
# Boot build image 0 with raw QEMU (no libvirt) under TCG and run one job.
#   bench/raw-qemu-boot.sh IMAGES_DIR JOB_FILE [WORK_DIR]
# JOB_FILE is a packed job (jobs/make-job.sh). WORK_DIR (default: a new temporary
# directory, kept) receives out.img, status.img and console.log.
# Prints the wall time of the QEMU run and the status record.
# BIOS=FILE passes -bios FILE; by default qboot (/usr/share/qemu/qboot.rom), the firmware
# construir's VMs use where it is installed; BIOS= (empty) for QEMU's default, SeaBIOS.
set -euo pipefail
if [ -z "${BIOS+set}" ] && [ -r /usr/share/qemu/qboot.rom ]; then BIOS=/usr/share/qemu/qboot.rom; fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 IMAGES_DIR JOB_FILE [WORK_DIR]" >&2
    exit 2
fi
images=$1 job=$2
work=${3:-$(mktemp -d /tmp/construir-raw.XXXXXX)}
mkdir -p "$work"
cmdline=$(sed -n 's/^  "cmdline": "\(.*\)",$/\1/p' "$images/0/image.json")
[ -n "$cmdline" ] || { echo "no cmdline in $images/0/image.json" >&2; exit 1; }

# The output disk is as large as the job file, at least 1 MiB; the status disk 4 KiB.
size=$(stat -c %s "$job")
[ "$size" -ge 1048576 ] || size=1048576
rm -f "$work/out.img" "$work/status.img" "$work/console.log"
truncate -s "$size" "$work/out.img"
truncate -s 4096 "$work/status.img"

start=$(date +%s.%N)
qemu-system-x86_64 ${BIOS:+-bios "$BIOS"} -machine pc,accel=tcg -m 512 -smp 1 \
    -nographic -no-reboot -nodefaults -serial "file:$work/console.log" \
    -kernel "$images/0/vmlinux" -initrd "$images/0/initrd.img" -append "$cmdline" \
    -drive "file=$job,if=none,id=job,format=raw,readonly=on" \
    -device virtio-blk-pci,drive=job,serial=construir-job \
    -drive "file=$work/out.img,if=none,id=output,format=raw" \
    -device virtio-blk-pci,drive=output,serial=construir-output \
    -drive "file=$work/status.img,if=none,id=status,format=raw" \
    -device virtio-blk-pci,drive=status,serial=construir-status
end=$(date +%s.%N)

printf 'wall: %.2f s\n' "$(awk "BEGIN { print $end - $start }")"
printf 'work dir: %s\n' "$work"
echo "status:"
tr -d '\0' < "$work/status.img" | sed 's/^/  /'
