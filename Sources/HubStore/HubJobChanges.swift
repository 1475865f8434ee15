/// What a transition changed of a job, so that a store writes only that: a claim adds one hold
/// and changes a few of the job's columns, and need not rewrite every hold and replica.
struct HubJobChanges {
    /// Whether the job's own columns changed (or it is new), derived ones included.
    var job: Bool
    /// Holders and runners whose rows go.
    var removedHolders: [String]
    var removedRunners: [String]
    /// Rows to insert or replace.
    var holds: [HubJob.Hold]
    var replicas: [HubJob.Replica]

    init(from previous: HubJob?, to job: HubJob) {
        guard let previous else {
            self.job = true
            removedHolders = []
            removedRunners = []
            holds = job.holds
            replicas = job.results
            return
        }
        var bare = job, previousBare = previous
        bare.holds = []
        bare.results = []
        previousBare.holds = []
        previousBare.results = []
        // open_places is a column too, derived from the holds and results.
        self.job = bare != previousBare || job.openPlaces != previous.openPlaces
        removedHolders = Array(Set(previous.holds.map(\.holder)).subtracting(job.holds.map(\.holder))).sorted()
        removedRunners = Array(Set(previous.results.map(\.runner)).subtracting(job.results.map(\.runner))).sorted()
        holds = job.holds.filter { !previous.holds.contains($0) }
        replicas = job.results.filter { !previous.results.contains($0) }
    }
}
