import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle
import VMHost

/// How the runner schedules and keeps jobs.
package struct RunnerConfiguration: Sendable {
    /// VMs at once.
    package var slots: Int
    /// On SIGTERM/SIGINT, how long running jobs may go on before they are destroyed and
    /// returned to the queue.
    package var gracePeriod: Duration
    /// A job whose runner died this many times while running it ends in `error` instead of
    /// being run again (it may be what kills the runner).
    package var maxAttempts: Int
    package var exitWhenIdle: Bool
    /// How often to look for jobs orphaned by a runner that died on another host (the queue's
    /// own changes wake the runner at once; this is only for that case).
    package var orphanScanInterval: Duration
    /// A finished job done/ did not take is tried again after this, doubled after each failure
    /// up to `publishRetryMaxDelay`.
    package var publishRetryDelay: Duration
    package var publishRetryMaxDelay: Duration
    /// What makes the runner hold back: no claims while any holds, and running VMs paused
    /// while one that `suspendsVMs` does (`run --hours`, `--pause-when-busy`, `--pause-on-battery`).
    package var pauseConditions: [any PauseCondition] = []

    package init(slots: Int = 1, gracePeriod: Duration = .seconds(30), maxAttempts: Int = 3,
                exitWhenIdle: Bool = false, orphanScanInterval: Duration = .seconds(60),
                publishRetryDelay: Duration = .seconds(5), publishRetryMaxDelay: Duration = .seconds(300)) {
        self.slots = slots
        self.gracePeriod = gracePeriod
        self.maxAttempts = maxAttempts
        self.exitWhenIdle = exitWhenIdle
        self.orphanScanInterval = orphanScanInterval
        self.publishRetryDelay = publishRetryDelay
        self.publishRetryMaxDelay = publishRetryMaxDelay
    }
}
