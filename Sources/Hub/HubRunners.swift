import Foundation
import HubAPI
import Synchronization

/// What the hub saw of each runner since it started: last call, leases held, results
/// delivered. In memory, per hub process: the leases themselves are in the store; this is for people
/// (the store keeps the record that matters across restarts: `HubStore.reputations`).
package final class HubRunners: Sendable {
    private struct Seen {
        var lastSeen: Date
        var running: Set<String> = []
        var jobsDone = 0
    }
    private let seen = Mutex([String: Seen]())
    private let finishedCount = Atomic<Int>(0)
    /// Each runner's last claim: what it can run, so that its long polls wake only for jobs a
    /// claim would give it (a runner whose images differ from the hub's would otherwise spin);
    /// with its tags then (its own and the ones its token is granted), and when.
    private let claims = Mutex([String: (request: HubClaimRequest, tags: Set<String>, at: Date)]())

    package init() {}

    package func saw(_ runner: String, now: Date = Date()) {
        seen.withLock { $0[runner, default: Seen(lastSeen: now)].lastSeen = now }
    }

    package func started(_ lease: String, by runner: String, now: Date = Date()) {
        seen.withLock {
            $0[runner, default: Seen(lastSeen: now)].lastSeen = now
            $0[runner]?.running.insert(lease)
        }
    }

    /// The lease ended for `runner`: given back, ran out, or finished (`delivered`).
    package func ended(_ lease: String, by runner: String?, delivered: Bool) {
        seen.withLock { all in
            for name in all.keys where runner == nil || name == runner {
                all[name]?.running.remove(lease)
            }
            if delivered, let runner { all[runner]?.jobsDone += 1 }
        }
    }

    package func claimed(_ request: HubClaimRequest, by runner: String, tags: Set<String> = [], now: Date = Date()) {
        claims.withLock { $0[runner] = (request, tags, now) }
    }

    /// The tags of each runner that claimed within `window` of `now`.
    package func recentTags(now: Date = Date(), within window: TimeInterval = 3600) -> [Set<String>] {
        claims.withLock { all in all.values.filter { now.timeIntervalSince($0.at) <= window }.map(\.tags) }
    }

    /// What `runner` sent with its last claim since the hub started; nil before its first.
    package func lastClaim(of runner: String) -> HubClaimRequest? {
        claims.withLock { $0[runner]?.request }
    }

    /// A job reached done/ (delivered, or finished by the hub as an error).
    package func finished() {
        finishedCount.add(1, ordering: .relaxed)
    }

    package var finishedJobs: Int { finishedCount.load(ordering: .relaxed) }

    /// Every runner seen since the start or with a `reputation` (kept across restarts).
    package func snapshot(reputation: [String: HubStatus.Reputation] = [:]) -> [HubStatus.Runner] {
        seen.withLock { all in
            Set(all.keys).union(reputation.keys).map { name in
                HubStatus.Runner(name: name, lastSeen: all[name]?.lastSeen, running: all[name]?.running.sorted() ?? [],
                                 jobsDone: all[name]?.jobsDone ?? 0, reputation: reputation[name] ?? .init())
            }
            .sorted { $0.name < $1.name }
        }
    }
}
