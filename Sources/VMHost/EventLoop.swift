import CLibvirt
import Foundation

/// libvirt's default event loop implementation, driven by one dedicated thread for the process.
enum EventLoop {
    private static let started: Bool = {
        construir_silence_libvirt_errors()
        virEventRegisterDefaultImpl()
        let thread = Thread {
            while true { _ = virEventRunDefaultImpl() }
        }
        thread.name = "libvirt-events"
        thread.start()
        return true
    }()

    static func startOnce() { _ = started }
}
