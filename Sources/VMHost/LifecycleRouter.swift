import CLibvirt
import Synchronization

/// Routes libvirt lifecycle events to the stop signal of the domain they concern.
final class LifecycleRouter: Sendable {
    private let signals = Mutex<[String: StopSignal]>([:])

    func arm(name: String) -> StopSignal {
        let signal = StopSignal()
        signals.withLock { $0[name] = signal }
        return signal
    }

    func disarm(name: String) {
        signals.withLock { $0[name] = nil }
    }

    func deliver(name: String, event: Int32, detail: Int32) {
        let reason: StopReason
        switch event {
        case Int32(VIR_DOMAIN_EVENT_SHUTDOWN.rawValue):
            reason = .guestPoweredOff
        case Int32(VIR_DOMAIN_EVENT_STOPPED.rawValue):
            reason = Self.stoppedReason(detail: detail)
            let signal = signals.withLock { $0[name] }
            signal?.fire(reason)
            signal?.end()
            return
        case Int32(VIR_DOMAIN_EVENT_CRASHED.rawValue):
            reason = .stopped(detail: "guest crashed")
        default:
            return
        }
        signals.withLock { $0[name] }?.fire(reason)
    }

    static func stoppedReason(detail: Int32) -> StopReason {
        switch detail {
        case Int32(VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN.rawValue): return .guestPoweredOff
        case Int32(VIR_DOMAIN_EVENT_STOPPED_DESTROYED.rawValue): return .stopped(detail: "destroyed")
        case Int32(VIR_DOMAIN_EVENT_STOPPED_CRASHED.rawValue): return .stopped(detail: "crashed")
        case Int32(VIR_DOMAIN_EVENT_STOPPED_FAILED.rawValue): return .stopped(detail: "QEMU failed")
        default: return .stopped(detail: "stopped, detail \(detail)")
        }
    }
}
