import JobModel

/// Where a runner's jobs come from and where finished ones go. The queue directory and done/
/// (`QueueDirectorySource`) today; a hub that hands out jobs over the network is another.
///
/// The runner owns what happens between: it runs a claimed job in its running directory,
/// commits result.json there, and retries a delivery the destination refused, with backoff.
/// Methods may block on files or the network for a while: implementations keep that off the
/// cooperative pool.
package protocol JobSource: Sendable {
    /// Calls `onChange` whenever there may be new work (empty calls are harmless), once right
    /// after watching began (for what arrived before), until the calling task is cancelled.
    func watch(onChange: @escaping @Sendable () -> Void) async throws

    /// Run once before the first claim: clears what a runner that died left half done.
    func recover() async

    /// Claims the next job for `slot` (1-based), or nil when there is none now. `prepareTakeOver`
    /// is called with a job's running directory before a job a dead runner left is adopted, so
    /// that whatever of its VM is still running is killed first.
    func claim(slot: Int, prepareTakeOver: @escaping @Sendable (String) async -> Void) async -> ClaimedJob?

    /// Whether any job waits to be claimed (`--exit-when-idle`).
    func hasWaitingJobs() async -> Bool

    /// Gives back a job the runner did not finish (it is stopping); that is no attempt.
    func release(_ job: ClaimedJob) async throws

    /// Delivers a job whose result.json is committed. `result` is that result, or nil to read
    /// it back (a restarted runner delivering what its predecessor committed). Throws when the
    /// destination does not take it now; the job then stays and is delivered again later.
    /// Returns where it went (a done/ directory, a URL) and the result as delivered, nil if
    /// unreadable.
    func deliver(_ job: ClaimedJob, result: JobResult?) async throws -> (location: String, result: JobResult?)
}
