import HubAPI
import HubOpenAPI
import HubStore
import JobModel

extension Components.Schemas.HubJobSummary {
    /// A job as a reader sees it: done once its directory is in done/ (or gone), so that a
    /// reader told `done` finds its result and whole console there.
    init(_ job: HubJob) {
        let state: Components.Schemas.HubJobState = switch job.state {
        case .queued: .queued
        case .held, .finishing: .running
        case .done: job.location == nil ? .running : .done
        }
        var runners: [String] = []
        for name in job.holds.map(\.holder) + job.results.map(\.runner) where !runners.contains(name) { runners.append(name) }
        let location = job.location.flatMap { $0.isEmpty ? nil : $0 }
        self.init(id: job.id, job: job.job, name: JobName(fileName: job.job)?.name ?? job.job, state: state,
                  status: job.status.map { .init($0) }, submitter: job.submitter, image: job.image, queued: job.queued,
                  finished: job.finished, attempts: job.handedOut, replicas: job.replicas, results: job.results.count,
                  runners: runners, location: location, stopping: job.stopRequested != nil && job.state != .done ? true : nil)
    }
}
