/// The hub's lease policy (`hub serve` options), which every claim and expiry follows.
package struct HubRules: Sendable, Equatable {
    /// How long a lease lasts without a heartbeat (`--lease`).
    package var leaseDuration: Duration
    /// A job whose holds failed this many times ends in error instead of being handed out again.
    package var maxAttempts: Int
    /// The most leases one runner token may hold at once (`--max-leases`): a runner that claims
    /// without running cannot take the whole queue.
    package var maxLeasesPerRunner: Int
    /// Holds a runner may take per UTC day before its failures halve it (`--daily-quota`).
    package var dailyQuota: Int
    /// Adaptive replication (`--adaptive`): nil when every job gets its replicas.
    package var trust: HubTrust?

    package init(leaseDuration: Duration, maxAttempts: Int = 3, maxLeasesPerRunner: Int = 32, dailyQuota: Int = 1000, trust: HubTrust? = nil) {
        self.leaseDuration = leaseDuration
        self.maxAttempts = maxAttempts
        self.maxLeasesPerRunner = maxLeasesPerRunner
        self.dailyQuota = max(dailyQuota, 1)
        self.trust = trust
    }
}

/// When a runner may run a replicated job alone (`hub serve --adaptive --trust-after K`).
package struct HubTrust: Sendable, Equatable {
    /// Agreed results in a row before a runner may run alone.
    package var after: Int
    /// Uniform in [0, 1): whether a trusted runner runs this job alone. Tests pass their own.
    package var draw: @Sendable () -> Double

    package init(after: Int, draw: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.after = max(after, 1)
        self.draw = draw
    }

    package static func == (a: HubTrust, b: HubTrust) -> Bool { a.after == b.after }
}
