import Foundation
import Logging
import VMHost

/// The one embedded libvirt driver of the test process: libvirt's embedded QEMU driver may be
/// opened only once per process, so every integration suite uses this connection.
enum SharedHypervisor {
    static let instance: Result<Hypervisor, any Error> = Result {
        let root = "/tmp/construir-it-\(getpid())"
        return try Hypervisor(uri: Hypervisor.embeddedURI(root: root), logger: Logger(label: "test"))
    }
}
