import Foundation

/// How the guest CPU runs. `/dev/kvm` existing is not enough (see HOST-NOTES: a paravirtual
/// nested KVM module hangs stock kernels), so `auto` also requires a hardware KVM module.
package enum Acceleration: String, Sendable, CaseIterable, Codable {
    case auto, kvm, tcg

    /// The libvirt domain type for a resolved acceleration.
    package var domainType: String { self == .kvm ? "kvm" : "qemu" }

    /// What `auto` becomes on this host, and why.
    package static func detect(devicePath: String = "/dev/kvm", sysModuleRoot: String = "/sys/module") -> (Acceleration, reason: String) {
        guard access(devicePath, R_OK | W_OK) == 0 else {
            return (.tcg, "\(devicePath) is missing or not read-write for this user")
        }
        let hardware = ["kvm_intel", "kvm_amd"].first { FileManager.default.fileExists(atPath: "\(sysModuleRoot)/\($0)") }
        guard let module = hardware else {
            return (.tcg, "\(devicePath) exists but no hardware KVM module (kvm_intel/kvm_amd) is loaded")
        }
        return (.kvm, "\(devicePath) is read-write and \(module) is loaded")
    }

    /// Resolves `auto`; explicit choices are kept as they are.
    package func resolved() -> (Acceleration, reason: String) {
        switch self {
        case .auto: return Acceleration.detect()
        case .kvm: return (.kvm, "requested")
        case .tcg: return (.tcg, "requested")
        }
    }
}
