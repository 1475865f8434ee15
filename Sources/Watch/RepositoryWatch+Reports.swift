import ConstruirSystem
import Foundation
import Logging

extension RepositoryWatch {
    /// Sends owed reports until cancelled, on its own schedule: a forge that is down delays
    /// only its reports, never a poll.
    package func runReports() async {
        while !Task.isCancelled {
            await sendReports()
            try? await Task.sleep(for: settings.reportEvery)
        }
    }

    /// One round: learns which jobs ended, then sends each report that is due.
    package func sendReports() async {
        guard let target = repository.report else { return }
        for var task in stateFile.state.reports {
            if task.final == nil {
                do {
                    if let final = try await destination.final(task) {
                        task.final = final
                        try await stateFile.update { $0.changeReport(task.job) { $0.final = final } }
                    }
                } catch {
                    logger.warning("cannot tell whether the job ended", metadata: ["job": "\(task.job)", "error": "\(error)"])
                }
            }
            while let (status, link) = task.due(at: Date(), pendingLink: destination.pendingLink(task)) {
                let report = CommitStatusReport(job: task.job, status: status, commit: task.commit, ref: task.ref, link: link)
                guard await send(report, to: target, task: &task) else { break }
            }
        }
    }

    /// Sends one report and records how it went; false when it failed.
    private func send(_ report: CommitStatusReport, to target: ReportTarget, task: inout ReportTask) async -> Bool {
        let settings = self.settings
        do {
            try await report.send(to: target, http: http)
            task.delivered()
            try? await stateFile.update { $0.changeReport(report.job) { $0.delivered() } }
            logger.info("reported", metadata: ["job": "\(report.job)", "status": "\(report.status)"])
            return true
        } catch {
            let now = Date()
            let gaveUp = task.failed(at: now, limit: settings.reportAttempts, base: settings.reportRetryBase, cap: settings.reportRetryCap)
            try? await stateFile.update {
                $0.changeReport(report.job) { _ = $0.failed(at: now, limit: settings.reportAttempts, base: settings.reportRetryBase, cap: settings.reportRetryCap) }
            }
            if gaveUp {
                logger.error("report given up", metadata: ["job": "\(report.job)", "status": "\(report.status)", "error": "\(error)"])
                return true
            }
            logger.warning("report failed; retrying later", metadata: ["job": "\(report.job)", "status": "\(report.status)", "error": "\(error)"])
            return false
        }
    }
}
