import CLibvirt
import ConstruirSystem
import Foundation
import Logging

/// What ended a VM.
package enum StopReason: Sendable, Equatable, CustomStringConvertible {
    /// The guest powered itself off (ACPI shutdown).
    case guestPoweredOff
    /// The domain stopped for another reason (crash, reset, destroyed from outside, QEMU died).
    case stopped(detail: String)
    /// The runner's timeout fired and the domain was destroyed.
    case timedOut
    /// A watchdog (e.g. the console log cap) found the guest over a limit; the domain was destroyed.
    case limitExceeded(String)
    /// `construir kill` asked for the job to stop (a `KillRequest`); the domain was destroyed.
    case killed

    package var description: String {
        switch self {
        case .guestPoweredOff: return "guest powered off"
        case .stopped(let detail): return "stopped (\(detail))"
        case .timedOut: return "timed out"
        case .limitExceeded(let reason): return "destroyed: \(reason)"
        case .killed: return "killed"
        }
    }
}
