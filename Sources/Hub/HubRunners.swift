import Foundation
import HubAPI
import Synchronization

/// What the hub saw of each runner since it started: last call, leases held, results
/// delivered. In memory only: the leases themselves are on disk, this is for people.
public final class HubRunners: Sendable {
    private struct Seen {
        var lastSeen: Date
        var running: Set<String> = []
        var jobsDone = 0
    }
    private let seen = Mutex([String: Seen]())
    private let finishedCount = Atomic<Int>(0)

    public init() {}

    public func saw(_ runner: String, now: Date = Date()) {
        seen.withLock { $0[runner, default: Seen(lastSeen: now)].lastSeen = now }
    }

    public func started(_ lease: String, by runner: String, now: Date = Date()) {
        seen.withLock {
            $0[runner, default: Seen(lastSeen: now)].lastSeen = now
            $0[runner]?.running.insert(lease)
        }
    }

    /// The lease ended for `runner`: given back, ran out, or finished (`delivered`).
    public func ended(_ lease: String, by runner: String?, delivered: Bool) {
        seen.withLock { all in
            for name in all.keys where runner == nil || name == runner {
                all[name]?.running.remove(lease)
            }
            if delivered, let runner { all[runner]?.jobsDone += 1 }
        }
    }

    /// A job reached done/ (delivered, or finished by the hub as an error).
    public func finished() {
        finishedCount.add(1, ordering: .relaxed)
    }

    public var finishedJobs: Int { finishedCount.load(ordering: .relaxed) }

    public func snapshot() -> [HubStatus.Runner] {
        seen.withLock { all in
            all.map { HubStatus.Runner(name: $0.key, lastSeen: $0.value.lastSeen, running: $0.value.running.sorted(),
                                       jobsDone: $0.value.jobsDone) }
                .sorted { $0.name < $1.name }
        }
    }
}
