import ConstruirSystem
import Foundation

/// Everything that defines one job's VM. Kept as plain data so that the XML libvirt receives
/// can be unit-tested without booting anything.
package struct DomainConfiguration: Sendable, Equatable {
    /// A block device the guest sees as virtio-blk, found by its serial rather than its order.
    package struct Disk: Sendable, Equatable {
        package var path: String
        package var serial: String
        package var readOnly: Bool
        /// Whether libvirt may change the file's owner so that QEMU (which runs as another user
        /// under `qemu:///system`) can use it. Off for build image files, which must stay
        /// byte- and metadata-identical; on for the job's own files.
        package var relabel: Bool

        package init(path: String, serial: String, readOnly: Bool, relabel: Bool = true) {
            self.path = path
            self.serial = serial
            self.readOnly = readOnly
            self.relabel = relabel
        }
    }

    /// QEMU-level I/O throttling for one disk (libvirt `<iotune>`). Applied by QEMU itself, so it
    /// works without cgroups, also for an unprivileged runner: a job cannot saturate the host's
    /// disk however hard it hammers its own devices.
    package struct DiskThrottle: Sendable, Equatable {
        package var bytesPerSecond: Int64
        package var operationsPerSecond: Int64

        package init(bytesPerSecond: Int64, operationsPerSecond: Int64) {
            self.bytesPerSecond = bytesPerSecond
            self.operationsPerSecond = operationsPerSecond
        }

        /// 200 MiB/s and 4000 operations/s per disk: far above what a TCG guest reaches, enough
        /// for a KVM build, and below what lets one VM starve a home machine's SSD.
        package static let `default` = DiskThrottle(bytesPerSecond: 200 << 20, operationsPerSecond: 4000)
    }

    package var name: String
    package var acceleration: Acceleration
    package var memoryMiB: Int
    package var cpus: Int
    package var kernel: String
    package var initrd: String?
    package var commandLine: String
    package var disks: [Disk]
    package var consoleLog: String
    /// Whether libvirt may relabel the console log (see `Disk.relabel`).
    package var relabelConsole: Bool = true
    /// Whether the connection has libvirt's DAC security driver, so `<seclabel model='dac'>` may
    /// be written. An unprivileged runner's embedded driver has none and refuses any mention of
    /// it ("Security driver model 'dac' is not available"); it relabels nothing anyway.
    package var dacSecurityDriver = true
    /// Throttle put on every disk; nil for none.
    package var diskThrottle: DiskThrottle? = .default
    /// Cap on the memory the whole QEMU process may use (guest RAM plus QEMU's own), in MiB.
    /// Not part of the XML: `<memtune>` at creation makes libvirt also raise QEMU's locked-memory
    /// rlimit, which needs CAP_SYS_RESOURCE. `Hypervisor.start` sets it on the live domain
    /// instead, through the memory cgroup, where that is available (see docs/security.md).
    package var memoryHardLimitMiB: Int?
    /// Run QEMU's vCPU and emulator threads under SCHED_IDLE (`run --priority idle`): the host's
    /// own programs come first, and the guest gets the CPU time nobody else wants.
    package var idlePriority = false
    /// The firmware QEMU runs before the kernel (libvirt `<loader type='rom'>`); nil for QEMU's
    /// default, SeaBIOS. Defaults to `qbootPath` when installed: qboot does nothing but hand over
    /// to the kernel, which under TCG saves about 0.15 s per boot (docs/performance.md).
    package var firmware: String? = Self.installedQboot

    package init(name: String, acceleration: Acceleration, memoryMiB: Int, cpus: Int,
                kernel: String, initrd: String?, commandLine: String, disks: [Disk], consoleLog: String) {
        self.name = name
        self.acceleration = acceleration
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.kernel = kernel
        self.initrd = initrd
        self.commandLine = commandLine
        self.disks = disks
        self.consoleLog = consoleLog
        self.memoryHardLimitMiB = Self.defaultHardLimit(memoryMiB: memoryMiB)
    }

    /// The hard limit for a guest of `memoryMiB`: its RAM plus room for QEMU itself (TCG's
    /// translation cache, block buffers), which a guest can drive but should not grow unbounded.
    package static func defaultHardLimit(memoryMiB: Int) -> Int {
        memoryMiB + max(256, memoryMiB / 2)
    }

    /// qboot, a minimal firmware for direct kernel boot; Debian ships it in qemu-system-data.
    package static let qbootPath = "/usr/share/qemu/qboot.rom"

    static let installedQboot: String? = FileManager.default.isReadableFile(atPath: qbootPath) ? qbootPath : nil

    /// The host's online CPUs: the guest never gets more vCPUs than this, so a job cannot ask
    /// for a VM that oversubscribes the volunteer's machine.
    package static var hostCPUs: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// The vCPU count written to the XML: `cpus` capped at 1...hostCPUs.
    package var cappedCPUs: Int { min(max(cpus, 1), Self.hostCPUs) }

    /// The libvirt domain XML. The VM is transient and has no network interface at all; every
    /// disk has an explicit raw format (a guest-written qcow2 header is never interpreted) and an
    /// I/O throttle. Devices are only the disks and one serial port: libvirt runs QEMU with
    /// `-nodefaults`, and USB, the balloon, graphics, video and sound are left out or disabled.
    package func xml() -> String {
        precondition(acceleration != .auto, "resolve the acceleration before building a domain")
        var lines: [String] = []
        lines.append("<domain type='\(acceleration.domainType)'>")
        lines.append("  <name>\(escape(name))</name>")
        lines.append("  <memory unit='MiB'>\(memoryMiB)</memory>")
        lines.append("  <vcpu placement='static'>\(cappedCPUs)</vcpu>")
        if idlePriority {
            lines.append("  <cputune>")
            lines.append("    <vcpusched vcpus='0-\(cappedCPUs - 1)' scheduler='idle'/>")
            lines.append("    <emulatorsched scheduler='idle'/>")
            lines.append("  </cputune>")
        }
        lines.append("  <os>")
        lines.append("    <type arch='x86_64' machine='pc'>hvm</type>")
        if let firmware { lines.append("    <loader type='rom' readonly='yes'>\(escape(firmware))</loader>") }
        lines.append("    <kernel>\(escape(kernel))</kernel>")
        if let initrd { lines.append("    <initrd>\(escape(initrd))</initrd>") }
        lines.append("    <cmdline>\(escape(commandLine))</cmdline>")
        lines.append("  </os>")
        lines.append("  <features><acpi/></features>")
        if acceleration == .kvm { lines.append("  <cpu mode='host-passthrough'/>") }
        lines.append("  <clock offset='utc'/>")
        lines.append("  <on_poweroff>destroy</on_poweroff>")
        lines.append("  <on_reboot>destroy</on_reboot>")
        lines.append("  <on_crash>destroy</on_crash>")
        lines.append("  <devices>")
        for (index, disk) in disks.enumerated() {
            lines.append("    <disk type='file' device='disk'>")
            lines.append("      <driver name='qemu' type='raw'/>")
            if disk.relabel || !dacSecurityDriver {
                lines.append("      <source file='\(escape(disk.path))'/>")
            } else {
                lines.append("      <source file='\(escape(disk.path))'>")
                lines.append("        <seclabel model='dac' relabel='no'/>")
                lines.append("      </source>")
            }
            lines.append("      <target dev='vd\(Self.driveLetter(index))' bus='virtio'/>")
            lines.append("      <serial>\(escape(disk.serial))</serial>")
            if disk.readOnly { lines.append("      <readonly/>") }
            if let diskThrottle {
                lines.append("      <iotune>")
                lines.append("        <total_bytes_sec>\(diskThrottle.bytesPerSecond)</total_bytes_sec>")
                lines.append("        <total_iops_sec>\(diskThrottle.operationsPerSecond)</total_iops_sec>")
                lines.append("      </iotune>")
            }
            lines.append("    </disk>")
        }
        lines.append("    <controller type='usb' model='none'/>")
        lines.append("    <memballoon model='none'/>")
        lines.append("    <serial type='file'>")
        if relabelConsole || !dacSecurityDriver {
            lines.append("      <source path='\(escape(consoleLog))'/>")
        } else {
            lines.append("      <source path='\(escape(consoleLog))'>")
            lines.append("        <seclabel model='dac' relabel='no'/>")
            lines.append("      </source>")
        }
        lines.append("      <target port='0'/>")
        lines.append("    </serial>")
        lines.append("  </devices>")
        lines.append("</domain>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The device name (e.g. "vdb") libvirt gives the disk of serial `serial`, for calls that
    /// name a disk of a running domain.
    package func diskTarget(serial: String) -> String? {
        disks.firstIndex(where: { $0.serial == serial }).map { "vd" + Self.driveLetter($0) }
    }

    static func driveLetter(_ index: Int) -> String {
        String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))
    }

    private func escape(_ text: String) -> String {
        MarkupText.escape(text)
    }
}
