/// What a job's replicas came to once every result is in (`HubJob.verdict`).
package struct HubVerdict: Sendable, Equatable {
    package enum State: String, Sendable {
        /// All results, or a strict majority of them, agree: `canonical` is the job's result.
        case agreed
        /// No majority formed with every replica the job could have.
        case disputed
        /// One runner, trusted for its record, ran the job alone (`hub serve --adaptive`).
        case trusted
    }

    package var state: State
    /// The result the job's becomes (agreed, trusted); disputed: the first.
    package var canonical: HubJob.Replica
    /// The results that agree with `canonical` (empty when disputed).
    package var majority: [HubJob.Replica]
    /// The results outvoted (agreed), or all of them (disputed).
    package var dissenters: [HubJob.Replica]

    package init(state: State, canonical: HubJob.Replica, majority: [HubJob.Replica], dissenters: [HubJob.Replica]) {
        self.state = state
        self.canonical = canonical
        self.majority = majority
        self.dissenters = dissenters
    }
}
