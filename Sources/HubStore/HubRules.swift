/// The hub's lease policy (`hub serve` options), which every claim and expiry follows.
package struct HubRules: Sendable, Equatable {
    /// How long a lease lasts without a heartbeat (`--lease`).
    package var leaseDuration: Duration
    /// A job whose holds failed this many times ends in error instead of being handed out again.
    package var maxAttempts: Int
    /// The most leases one runner token may hold at once (`--max-leases`): a runner that claims
    /// without running cannot take the whole queue.
    package var maxLeasesPerRunner: Int

    package init(leaseDuration: Duration, maxAttempts: Int = 3, maxLeasesPerRunner: Int = 32) {
        self.leaseDuration = leaseDuration
        self.maxAttempts = maxAttempts
        self.maxLeasesPerRunner = maxLeasesPerRunner
    }
}
