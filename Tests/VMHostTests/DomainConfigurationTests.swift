import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
@testable import VMHost

@Suite struct DomainConfigurationTests {
    private func configuration(_ acceleration: Acceleration = .tcg) -> DomainConfiguration {
        DomainConfiguration(
            name: "construir-1-job", acceleration: acceleration, memoryMiB: 768, cpus: 2,
            kernel: "/images/0/vmlinux", initrd: "/images/0/initrd.img",
            commandLine: "console=ttyS0 quiet",
            disks: [
                .init(path: "/run/job.tar.xz", serial: "construir-job", readOnly: true),
                .init(path: "/run/out & <x>.img", serial: "construir-output", readOnly: false),
                .init(path: "/images/1/root.img", serial: "construir-root", readOnly: true, relabel: false),
            ],
            consoleLog: "/run/console.log")
    }

    /// Parses the XML with a real parser, so the assertions are about structure, not text.
    private func document(_ configuration: DomainConfiguration) throws -> XMLDocument {
        try XMLDocument(xmlString: configuration.xml(), options: [])
    }

    private func values(_ doc: XMLDocument, _ xpath: String) throws -> [String] {
        try doc.nodes(forXPath: xpath).compactMap(\.stringValue)
    }

    @Test func hasNoNetworkAndAcpiAndDestroysOnEveryStop() throws {
        let doc = try document(configuration())
        #expect(try doc.nodes(forXPath: "//interface").isEmpty)
        #expect(try doc.nodes(forXPath: "/domain/features/acpi").count == 1)
        #expect(try values(doc, "/domain/on_poweroff") == ["destroy"])
        #expect(try values(doc, "/domain/on_reboot") == ["destroy"])
        #expect(try values(doc, "/domain/on_crash") == ["destroy"])
        #expect(try values(doc, "/domain/devices/controller[@type='usb']/@model") == ["none"])
        #expect(try values(doc, "/domain/devices/memballoon/@model") == ["none"])
    }

    @Test func resourcesAndBootFilesComeFromTheConfiguration() throws {
        let doc = try document(configuration())
        #expect(try values(doc, "/domain/@type") == ["qemu"])
        #expect(try values(doc, "/domain/memory") == ["768"])
        #expect(try values(doc, "/domain/memory/@unit") == ["MiB"])
        #expect(try values(doc, "/domain/vcpu") == ["2"])
        #expect(try values(doc, "/domain/os/kernel") == ["/images/0/vmlinux"])
        #expect(try values(doc, "/domain/os/initrd") == ["/images/0/initrd.img"])
        #expect(try values(doc, "/domain/os/cmdline") == ["console=ttyS0 quiet"])
        #expect(try values(doc, "/domain/devices/serial[@type='file']/source/@path") == ["/run/console.log"])
    }

    @Test func idlePriorityPutsEveryVCPUAndTheEmulatorUnderSchedIdle() throws {
        #expect(try document(configuration()).nodes(forXPath: "/domain/cputune").isEmpty, "normal priority by default")
        var config = configuration()
        config.idlePriority = true
        let doc = try document(config)
        #expect(try values(doc, "/domain/cputune/vcpusched/@vcpus") == ["0-1"])
        #expect(try values(doc, "/domain/cputune/vcpusched/@scheduler") == ["idle"])
        #expect(try values(doc, "/domain/cputune/emulatorsched/@scheduler") == ["idle"])
    }

    @Test func firmwareIsALoaderRomOrQemusDefault() throws {
        var config = configuration()
        config.firmware = "/fw/qboot & co.rom"
        let doc = try document(config)
        #expect(try values(doc, "/domain/os/loader") == ["/fw/qboot & co.rom"])
        #expect(try values(doc, "/domain/os/loader/@type") == ["rom"])
        config.firmware = nil
        #expect(try document(config).nodes(forXPath: "/domain/os/loader").isEmpty)
    }

    @Test func qbootIsTheDefaultFirmwareWhereInstalled() {
        let installed = FileManager.default.isReadableFile(atPath: DomainConfiguration.qbootPath)
        #expect(configuration().firmware == (installed ? DomainConfiguration.qbootPath : nil))
    }

    @Test func disksAreRawFoundBySerialAndTheJobIsReadOnly() throws {
        let doc = try document(configuration())
        #expect(try values(doc, "/domain/devices/disk/driver/@type") == ["raw", "raw", "raw"])
        #expect(try values(doc, "/domain/devices/disk/serial") == ["construir-job", "construir-output", "construir-root"])
        #expect(try values(doc, "/domain/devices/disk/source/@file") == ["/run/job.tar.xz", "/run/out & <x>.img", "/images/1/root.img"])
        #expect(try values(doc, "/domain/devices/disk/target/@dev") == ["vda", "vdb", "vdc"])
        #expect(try values(doc, "/domain/devices/disk/target/@bus") == ["virtio", "virtio", "virtio"])
        #expect(try doc.nodes(forXPath: "/domain/devices/disk[serial='construir-job']/readonly").count == 1)
        #expect(try doc.nodes(forXPath: "/domain/devices/disk[serial='construir-output']/readonly").isEmpty)
        #expect(try doc.nodes(forXPath: "/domain/devices/disk[serial='construir-root']/readonly").count == 1)
        // Only the build image's file is exempt from relabelling.
        #expect(try values(doc, "/domain/devices/disk[source/seclabel/@relabel='no']/serial") == ["construir-root"])
    }

    @Test func everyDiskIsRawAndThrottled() throws {
        let doc = try document(configuration())
        let disks = try doc.nodes(forXPath: "/domain/devices/disk")
        #expect(disks.count == 3)
        for disk in disks {
            #expect(try disk.nodes(forXPath: "driver[@type='raw']").count == 1)
            #expect(try disk.nodes(forXPath: "iotune/total_bytes_sec").compactMap(\.stringValue) == ["\(200 << 20)"])
            #expect(try disk.nodes(forXPath: "iotune/total_iops_sec").compactMap(\.stringValue) == ["4000"])
        }
        var unthrottled = configuration()
        unthrottled.diskThrottle = nil
        #expect(try document(unthrottled).nodes(forXPath: "//iotune").isEmpty)
    }

    /// Only disks and one serial port: no NIC, USB, graphics, video, sound, balloon, input,
    /// channel, RNG, watchdog or filesystem share; the memory limit is not in the XML (it is set
    /// on the live domain, see `Hypervisor.start`).
    @Test func onlyTheNeededDevices() throws {
        let doc = try document(configuration())
        let kinds = try doc.nodes(forXPath: "/domain/devices/*").compactMap(\.name)
        #expect(Set(kinds) == ["disk", "controller", "memballoon", "serial"])
        #expect(try values(doc, "/domain/devices/controller/@type") == ["usb"])
        #expect(try values(doc, "/domain/devices/controller/@model") == ["none"])
        #expect(try values(doc, "/domain/devices/memballoon/@model") == ["none"])
        for absent in ["interface", "graphics", "video", "sound", "input", "channel", "rng", "watchdog", "filesystem", "hostdev", "redirdev", "smartcard", "tpm"] {
            #expect(try doc.nodes(forXPath: "//\(absent)").isEmpty, "\(absent)")
        }
        #expect(try doc.nodes(forXPath: "/domain/memtune").isEmpty)
    }

    @Test func vCPUsAreCappedAtTheHostsCPUs() throws {
        var wide = configuration()
        wide.cpus = 10_000
        #expect(try values(try document(wide), "/domain/vcpu") == ["\(DomainConfiguration.hostCPUs)"])
        wide.cpus = 0
        #expect(try values(try document(wide), "/domain/vcpu") == ["1"])
    }

    @Test func memoryHardLimitLeavesRoomForQEMU() {
        #expect(configuration().memoryHardLimitMiB == 768 + 384)
        #expect(DomainConfiguration.defaultHardLimit(memoryMiB: 256) == 512)
    }

    @Test func embeddedQemuConfTurnsOnTheSeccompSandbox() async throws {
        try await withTemporaryDirectory { dir in
            try Hypervisor.prepareEmbeddedRoot(dir)
            let conf = try String(contentsOfFile: "\(dir)/etc/qemu.conf", encoding: .utf8)
            let settings = conf.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.replacingOccurrences(of: " ", with: "") }
            #expect(settings.contains("seccomp_sandbox=1"))
            #expect(settings.contains("user=\"+\(getuid())\""))
            #expect(settings.contains("stdio_handler=\"file\""))
        }
    }

    /// Without libvirt's DAC driver (an unprivileged embedded driver) no seclabel may appear.
    @Test func noSecurityLabelsWithoutTheDACDriver() throws {
        var unprivileged = configuration()
        unprivileged.relabelConsole = false
        #expect(try document(unprivileged).nodes(forXPath: "//seclabel").count == 2)
        unprivileged.dacSecurityDriver = false
        let doc = try document(unprivileged)
        #expect(try doc.nodes(forXPath: "//seclabel").isEmpty)
        #expect(try values(doc, "/domain/devices/disk/source/@file") == ["/run/job.tar.xz", "/run/out & <x>.img", "/images/1/root.img"])
        #expect(try values(doc, "/domain/devices/serial/source/@path") == ["/run/console.log"])
    }

    @Test func kvmUsesTheKvmDomainType() throws {
        let doc = try document(configuration(.kvm))
        #expect(try values(doc, "/domain/@type") == ["kvm"])
    }
}

@Suite struct AccelerationTests {
    @Test func missingDeviceMeansTCG() {
        let (acceleration, reason) = Acceleration.detect(devicePath: "/nonexistent/kvm", sysModuleRoot: "/sys/module")
        #expect(acceleration == .tcg)
        #expect(reason.contains("/nonexistent/kvm"))
    }

    @Test func deviceWithoutHardwareModuleMeansTCG() throws {
        // /dev/null is read-write for everyone; an empty module root has no kvm_intel/kvm_amd.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("construir-mods-\(getpid())").path
        try FileManager.default.createDirectory(atPath: "\(root)/kvm_pvm", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(Acceleration.detect(devicePath: "/dev/null", sysModuleRoot: root).0 == .tcg)
        try FileManager.default.createDirectory(atPath: "\(root)/kvm_intel", withIntermediateDirectories: true)
        #expect(Acceleration.detect(devicePath: "/dev/null", sysModuleRoot: root).0 == .kvm)
    }

    @Test func embeddedRootIsReadFromTheURI() {
        #expect(Hypervisor.embeddedRoot(of: "qemu:///embed?root=/var/lib/x") == "/var/lib/x")
        #expect(Hypervisor.embeddedRoot(of: "qemu:///system") == nil)
    }
}
