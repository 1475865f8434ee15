import Foundation
import JobModel

/// The plain-text forms of `status` and `result`.
enum StatusText {
    static func render(_ snapshot: QueueSnapshot) -> String {
        var out = "queue \(snapshot.queueDirectory): \(snapshot.queued.count) waiting\n"
        out += table(snapshot.queued.map {
            ["\($0.position)", $0.file, "image \($0.image)", "waiting \(duration(snapshot.taken.timeIntervalSince($0.queued)))"]
        })
        for pause in snapshot.pausedRunners {
            out += "runner \(pause.runner) \(pause.suspendsVMs ? "paused" : "claims no new job") since \(timestamp(pause.since)): \(pause.summary)\n"
        }
        let unpublished = snapshot.running.filter { $0.unpublished != nil }.count
        out += "running: \(snapshot.running.count)" + (unpublished == 0 ? "" : ", \(unpublished) finished but not in done/ yet (retried)") + "\n"
        out += table(snapshot.running.map {
            [$0.file, "image \($0.image)", $0.slot.map { "slot \($0)" } ?? "slot -", "elapsed \(duration($0.elapsed))",
             [$0.runner, $0.host, $0.pid.map { "pid \($0)" }].compactMap { $0 }.joined(separator: " ")]
                + ($0.unpublished.map { ["unpublished (attempts failed: \($0.failures), next \(timestamp($0.nextAttempt))): \($0.error)"] } ?? [])
                + ($0.paused.map { ["paused: \($0)"] } ?? [])
        })
        let warm = snapshot.everyWarmVM
        if !warm.isEmpty {
            out += "warm VMs: \(warm.count), \(warm.count { $0.vm.state == .ready }) ready\n"
            out += table(warm.map { runner, vm in
                [vm.domain, "image \(vm.image)", vm.state.rawValue, "booted \(timestamp(vm.booted))", "\(vm.memoryMiB) MiB, \(vm.cpus) CPU", runner]
            })
        }
        let shown = snapshot.done.count < snapshot.doneTotal ? ", the \(snapshot.done.count) most recent" : ""
        out += "done \(snapshot.doneDirectory): \(snapshot.doneTotal)\(shown)\n"
        out += table(snapshot.done.map {
            [$0.directory, $0.result.status.rawValue, $0.result.exitCode.map { "exit \($0)" } ?? "exit -",
             duration($0.result.durations.total), timestamp($0.result.timestamps.finished)]
                + ($0.result.stages.map { [StageResult.tally($0)] } ?? [])
        })
        return out
    }

    static func result(_ done: QueueSnapshot.Done, directory: String) -> String {
        result(done.result, directory: directory)
    }

    static func result(_ result: JobResult, directory: String) -> String {
        var rows: [(String, String)] = [
            ("job", "\(result.job) (\(directory))"),
            ("status", result.status.rawValue),
            ("exit code", result.exitCode.map(String.init) ?? "-"),
        ]
        if let error = result.error { rows.append(("error", error)) }
        rows.append(("image", result.image.map { "\($0.index)" } ?? "-"))
        if let source = result.source {
            rows.append(("source", source.commit + (source.uncommittedChanges ? " with uncommitted changes" : "")))
        }
        rows.append(("finished", timestamp(result.timestamps.finished)))
        rows.append(("duration", duration(result.durations.total)))
        if let paused = result.durations.paused { rows.append(("paused", duration(paused))) }
        if let warm = result.warm {
            rows.append(("warm VM", "\(warm.domain), booted \(duration(warm.age)) before the job, handed over in \(duration(warm.handover))"))
        }
        for stage in result.stages ?? [] { rows.append(("stage \(stage.name)", stage.summary)) }
        if let quorum = result.quorum { rows.append(("quorum", QuorumText.describe(quorum))) }
        if let comparison = result.comparison { rows.append(("compared", QuorumText.describe(comparison))) }
        if let secrets = result.secrets { rows.append(("secrets", "\(secrets.names.joined(separator: ", ")) (\(secrets.redacted) replaced by [secret NAME])")) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n") + "\n"
    }

    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func duration(_ seconds: Double) -> String { QueueSnapshot.formatDuration(seconds) }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
