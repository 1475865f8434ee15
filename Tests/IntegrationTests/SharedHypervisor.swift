import Foundation
import Logging
import Testing
import VMHost

/// The one embedded libvirt driver of the test process: libvirt's embedded QEMU driver may be
/// opened only once per process, so every integration suite uses this connection.
enum SharedHypervisor {
    static let instance: Result<Hypervisor, any Error> = Result {
        let root = "/tmp/construir-it-\(getpid())"
        return try Hypervisor(uri: Hypervisor.embeddedURI(root: root), logger: Logger(label: "test"))
    }
}

/// The parent of every suite that boots VMs: `.serialized` is recursive, so the suites nested in
/// it (`extension VMSuites { @Suite struct ... }`) never run at the same time. Their VMs then do
/// not compete for the CPUs, and a test that checks that no domain is left running sees only its
/// own.
@Suite(.serialized) enum VMSuites {}
