import ArgumentParser
import JobModel

/// The directories `status`, `result`, `logs` and `serve` read (the same defaults as `run`).
struct QueueLocation: ParsableArguments {
    @Option(help: "The queue directory.") var queue = "queue"
    @Option(help: "The directory of finished jobs.") var done = "done"
    @Option(help: "The runner's state directory. Default: QUEUE/.construir") var state: String?
    @Option(help: "Image for jobs whose name has no _iN.") var defaultImage = 0

    func observer() -> QueueObserver {
        QueueObserver(queueDirectory: queue, doneDirectory: done, stateDirectory: state, defaultImage: defaultImage)
    }
}
