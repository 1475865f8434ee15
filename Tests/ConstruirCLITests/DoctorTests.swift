import Foundation
import Testing
import TestSupport
@testable import ConstruirCLI

@Suite struct DoctorTests {
    /// A /dev/kvm the user cannot open, owned by group root: the advice must never be to join
    /// group root (which opens every group-root file on the machine to the runner and to any job
    /// that escapes), but to give the device to group kvm and join that.
    @Test func aRootOwnedKVMDeviceIsGivenToGroupKVMNeverToRoot() async throws {
        try await withTemporaryDirectory { dir in
            let device = "\(dir)/kvm"
            #expect(FileManager.default.createFile(atPath: device, contents: nil, attributes: [.posixPermissions: 0o660]))
            if geteuid() == 0 { #expect(chown(device, 0, 0) == 0) }

            var doctor = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: "\(dir)/images")
            doctor.kvmDevice = device
            doctor.sysModuleRoot = dir
            doctor.canReadWrite = { _ in false }
            let check = try #require(doctor.run().first { $0.subject == "acceleration" })
            let fix = try #require(check.fix)
            #expect(check.level == .warning)
            #expect(!fix.contains("-aG root"), "\(fix)")
            #expect(fix.contains("usermod -aG kvm"), "\(fix)")
            #expect(fix.contains(#"KERNEL=="kvm", GROUP="kvm", MODE="0660""#), "\(fix)")
        }
    }

    @Test func onlyTheKVMGroupIsEverSuggested() {
        for group in ["root", "disk", "wheel", "sudo", "adm", nil] as [String?] {
            let fix = Doctor.kvmAccessFix(device: "/dev/kvm", group: group, user: "vol")
            #expect(fix.contains("usermod -aG kvm vol") && fix.contains("udev"), "\(fix)")
            if let group { #expect(!fix.contains("-aG \(group)"), "\(fix)") }
        }
        let kvm = Doctor.kvmAccessFix(device: "/dev/kvm", group: "kvm", user: "vol")
        #expect(kvm.contains("usermod -aG kvm vol") && !kvm.contains("udev"), "\(kvm)")
    }

    /// The runner keeps its state inside the queue: a queue others may rename entries in is
    /// warned about, and the fix is the sticky bit, not more access.
    @Test func aQueueOthersCanWriteWithoutTheStickyBitIsWarnedAbout() async throws {
        try await withTemporaryDirectory { dir in
            let queue = "\(dir)/queue"
            #expect(mkdir(queue, 0o700) == 0)
            let doctor = Doctor(queue: queue, done: "\(dir)/done", images: "\(dir)/images")
            for (mode, passes) in [(0o775, false), (0o777, false), (0o1770, true), (0o1733, true), (0o755, true)] as [(mode_t, Bool)] {
                #expect(chmod(queue, mode) == 0)
                let check = try #require(doctor.run().first { $0.subject == "queue" })
                #expect((check.level == .ok) == passes, "mode \(String(mode, radix: 8)): \(check)")
                #expect(check.level != .failure, "mode \(String(mode, radix: 8)): \(check)")
                if !passes { #expect(check.fix?.contains("chmod +t") == true) }
            }
        }
    }
}
