import Foundation

/// Test-only fault injection: when `CONSTRUIR_CRASH_AT` names a point (comma-separated), the
/// process kills itself with SIGKILL the first time it reaches it. The crash-recovery tests use
/// it to stop the runner at each step of a job, and `watch` between packaging and recording;
/// it does nothing when the variable is unset.
package enum CrashPoint {
    private static let points: Set<String> = {
        guard let value = ProcessInfo.processInfo.environment["CONSTRUIR_CRASH_AT"] else { return [] }
        return Set(value.split(separator: ",").map { String($0) })
    }()

    package static func reach(_ point: String) {
        if points.contains(point) { kill(getpid(), SIGKILL) }
    }
}
