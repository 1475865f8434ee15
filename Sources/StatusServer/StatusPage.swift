import ConstruirSystem
import Foundation
import JobModel

/// The HTML of the status pages. Every value that comes from a job (names, errors, file names)
/// goes through `MarkupText.escape`, and every path segment in a link through `pathSegment`, because job
/// names and output files are chosen by whoever submitted the job.
package enum StatusPage {
    /// The overview: queue, running jobs with elapsed time, recent done jobs with links to the
    /// files `hasFile(directory, file)` says exist (a rejected job has no console log or output).
    package static func overview(_ snapshot: QueueSnapshot, hasFile: (String, String) -> Bool = { _, _ in true }) -> String {
        var html = header(title: "construir", refresh: 10)
        html += "<h1>construir</h1>\n"
        html += "<p class=\"meta\">\(MarkupText.escape(timestamp(snapshot.taken))) · queue <code>\(MarkupText.escape(snapshot.queueDirectory))</code> · done <code>\(MarkupText.escape(snapshot.doneDirectory))</code> · <a href=\"/api/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>\n"

        html += "<h2>Queued (<span id=\"queued-count\">\(snapshot.queued.count)</span>)</h2>\n"
        if snapshot.queued.isEmpty {
            html += "<p class=\"empty\">The queue is empty.</p>\n"
        } else {
            html += "<table id=\"queued\"><tr><th>#</th><th>job</th><th>image</th><th>queued</th><th>size</th></tr>\n"
            for job in snapshot.queued {
                html += "<tr><td>\(job.position)</td><td>\(MarkupText.escape(job.file))</td><td>\(job.image)</td><td>\(MarkupText.escape(timestamp(job.queued)))</td><td>\(MarkupText.escape(formatBytes(job.size)))</td></tr>\n"
            }
            html += "</table>\n"
        }

        html += "<h2>Running (<span id=\"running-count\">\(snapshot.running.count)</span>)</h2>\n"
        for pause in snapshot.pausedRunners {
            html += "<p class=\"paused\" data-runner=\"\(MarkupText.escape(pause.runner))\">Runner \(MarkupText.escape(pause.runner)) "
                + (pause.suspendsVMs ? "has paused its VMs" : "claims no new job")
                + " since \(MarkupText.escape(timestamp(pause.since))): \(MarkupText.escape(pause.summary))</p>\n"
        }
        if snapshot.running.isEmpty {
            html += "<p class=\"empty\">No job is running.</p>\n"
        } else {
            html += "<table id=\"running\"><tr><th>job</th><th>image</th><th>slot</th><th>elapsed</th><th>runner</th></tr>\n"
            for job in snapshot.running {
                let runner = [job.runner, job.host, job.pid.map { "pid \($0)" }].compactMap { $0 }.joined(separator: " ")
                html += "<tr><td>\(MarkupText.escape(job.file))</td><td>\(job.image)</td><td>\(job.slot.map(String.init) ?? "–")</td><td>\(MarkupText.escape(formatDuration(job.elapsed)))</td><td>\(MarkupText.escape(runner))</td></tr>\n"
                if let paused = job.paused {
                    html += "<tr class=\"paused\"><td colspan=\"5\">paused: \(MarkupText.escape(paused))</td></tr>\n"
                }
                if let unpublished = job.unpublished {
                    html += "<tr class=\"unpublished\"><td colspan=\"5\">finished, not in done/ yet (attempts failed: \(unpublished.failures), next \(MarkupText.escape(timestamp(unpublished.nextAttempt)))): \(MarkupText.escape(unpublished.error))</td></tr>\n"
                }
            }
            html += "</table>\n"
        }

        let warm = snapshot.everyWarmVM
        if !warm.isEmpty {
            html += "<h2>Warm VMs (<span id=\"warm-count\">\(warm.count)</span>)</h2>\n"
            html += "<table id=\"warm\"><tr><th>VM</th><th>image</th><th>state</th><th>booted</th><th>memory</th><th>runner</th></tr>\n"
            for (runner, vm) in warm {
                html += "<tr><td>\(MarkupText.escape(vm.domain))</td><td>\(vm.image)</td><td>\(vm.state.rawValue)</td><td>\(MarkupText.escape(timestamp(vm.booted)))</td><td>\(vm.memoryMiB) MiB, \(vm.cpus) CPU</td><td>\(MarkupText.escape(runner))</td></tr>\n"
            }
            html += "</table>\n"
        }

        html += "<h2>Done (<span id=\"done-count\">\(snapshot.doneTotal)</span>)</h2>\n"
        if snapshot.done.isEmpty {
            html += "<p class=\"empty\">No job has finished yet.</p>\n"
        } else {
            html += "<table id=\"done\"><tr><th>job</th><th>status</th><th>exit</th><th>finished</th><th>duration</th><th>files</th></tr>\n"
            for job in snapshot.done {
                let base = "/done/\(pathSegment(job.directory))"
                let files = [JobFiles.consoleLog, JobFiles.result, JobFiles.outputArchive].filter { hasFile(job.directory, $0) }
                let links = (["<a href=\"/jobs/\(pathSegment(job.directory))\">details</a>"]
                    + files.map { "<a href=\"\(base)/\($0)\">\($0)</a>" }).joined(separator: " ")
                let result = job.result
                html += "<tr class=\"job\" data-job=\"\(MarkupText.escape(job.directory))\"><td>\(MarkupText.escape(job.directory))</td>"
                html += "<td class=\"status \(MarkupText.escape(result.status.rawValue))\">\(MarkupText.escape(result.status.rawValue))</td>"
                html += "<td>\(result.exitCode.map(String.init) ?? "–")</td><td>\(MarkupText.escape(timestamp(result.timestamps.finished)))</td>"
                html += "<td>\(MarkupText.escape(formatDuration(result.durations.total)))"
                    + (result.stages.map { " <span class=\"meta\">\(MarkupText.escape(StageResult.tally($0)))</span>" } ?? "") + "</td><td>\(links)</td></tr>\n"
            }
            html += "</table>\n"
        }
        return html + "</body></html>\n"
    }

    /// One done job: its result, and links to every file of its directory.
    package static func job(directory: String, result: JobResult, files: [DoneFiles.Entry]) -> String {
        var html = header(title: "construir: \(directory)", refresh: nil)
        html += "<p><a href=\"/\">← all jobs</a></p>\n<h1>\(MarkupText.escape(directory))</h1>\n<table id=\"result\">\n"
        let rows: [(String, String)] = [
            ("job", result.job), ("status", result.status.rawValue),
            ("exit code", result.exitCode.map(String.init) ?? "–"), ("error", result.error ?? "–"),
            ("image", result.image.map { "\($0.index)" } ?? "–"),
            ("queued", timestamp(result.timestamps.queued)), ("started", timestamp(result.timestamps.started)),
            ("finished", timestamp(result.timestamps.finished)), ("duration", formatDuration(result.durations.total)),
            ("runner", result.runner),
        ]
        for (key, value) in rows { html += "<tr><th>\(MarkupText.escape(key))</th><td>\(MarkupText.escape(value))</td></tr>\n" }
        html += "</table>\n"
        if let stages = result.stages {
            html += "<h2>Stages</h2>\n<table id=\"stages\"><tr><th>stage</th><th>status</th><th>exit</th><th>duration</th><th>console bytes</th></tr>\n"
            for stage in stages {
                let bytes = stage.console.map { "\($0.offset)–\($0.offset + $0.length)" } ?? "–"
                html += "<tr><td>\(MarkupText.escape(stage.name))\(stage.allowFailure ? " <span class=\"meta\">(allowed to fail)</span>" : "")</td>"
                    + "<td class=\"status \(MarkupText.escape(stage.status.rawValue))\">\(MarkupText.escape(stage.status.rawValue))</td>"
                    + "<td>\(stage.exitCode.map(String.init) ?? "–")</td><td>\(stage.duration.map(formatDuration) ?? "–")</td><td>\(bytes)</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<h2>Files</h2>\n<ul id=\"files\">\n"
        for file in files {
            let label = "\(MarkupText.escape(file.path)) <span class=\"meta\">\(MarkupText.escape(formatBytes(file.size)))</span>"
            if file.isRegularFile {
                let href = "/done/\(pathSegment(directory))/" + file.path.split(separator: "/").map { pathSegment(String($0)) }.joined(separator: "/")
                html += "<li><a href=\"\(href)\">\(label)</a></li>\n"
            } else {
                html += "<li>\(MarkupText.escape(file.path)) <span class=\"meta\">(not a regular file)</span></li>\n"
            }
        }
        return html + "</ul>\n</body></html>\n"
    }

    /// Percent-encodes one path segment: only unreserved characters stay as they are.
    package static func pathSegment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static func header(title: String, refresh: Int?) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">\n" } ?? "")<title>\(MarkupText.escape(title))</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
        table { border-collapse: collapse; margin-bottom: 1em; }
        th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; vertical-align: top; }
        .meta, .empty { color: #666; }
        .passed { color: #176f2c; } .failed, .error, .rejected, .disputed { color: #b3261e; } .timed_out, .passed_with_failures, .killed { color: #9a5b00; }
        code { font-size: 90%; }
        </style></head><body>

        """
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func formatDuration(_ seconds: Double) -> String { QueueSnapshot.formatDuration(seconds) }

    package static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
