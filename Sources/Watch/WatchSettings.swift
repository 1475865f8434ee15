/// How `watch` runs, beside the repos file: where its state is, how often it polls, how it
/// retries.
package struct WatchSettings: Sendable {
    /// The private state directory (`--state`): `repos/`, `mirrors/`, `outgoing/`.
    package var stateDirectory: String
    /// Where build images live, to check each repository's `images:` against.
    package var imagesDirectory: String
    /// Between two polls of a repository (`--every`).
    package var every: Duration
    /// The first retry of a repository that could not be polled comes after `retryBase`, each
    /// further one after twice as long, at most `retryCap`.
    package var retryBase: Duration
    package var retryCap: Duration
    /// How often owed reports are sent and running jobs looked at.
    package var reportEvery: Duration = .seconds(5)
    /// Attempts at one report before it is given up (and logged as lost).
    package var reportAttempts = 10
    package var reportRetryBase: Duration = .seconds(5)
    package var reportRetryCap: Duration = .seconds(600)

    package init(stateDirectory: String, imagesDirectory: String = "images", every: Duration = .seconds(300)) {
        self.stateDirectory = stateDirectory
        self.imagesDirectory = imagesDirectory
        self.every = every
        retryBase = min(every, .seconds(30))
        retryCap = max(every, .seconds(1800))
    }

    package var outgoing: String { "\(stateDirectory)/outgoing" }
    package var repos: String { "\(stateDirectory)/repos" }
}
