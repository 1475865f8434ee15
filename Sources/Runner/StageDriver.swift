import Foundation
import JobModel

/// Runs a job's `stages:` in the guest: the runner writes this bash script on the job's
/// `construir-stages` disk, and the guest agent (protocol 2) runs it instead of job/construir.
///
/// Each stage's lines become one script run with `bash -e`, one after the other in the same VM,
/// in `/repo` when the job has one (a packaged repository), else in `/job`. Around each stage
/// the script prints marker lines carrying a per-job nonce and the guest's uptime; the runner
/// reads them back from console.log (`results`) for each stage's status, exit code, timing and
/// byte range. After each stage the files its `artifacts` globs match are copied to
/// `/run/construir-stages/artifacts`. As in a packaged script job, `artifacts/` exists in the
/// stages' directory before the first stage, and what the stages put there joins the output
/// at its root. At the end, unless a stage wrote the output disk itself, these and
/// job_output.txt become the output, written as a packaged job's wrapper writes its own
/// (`OutputArchiveScript`).
package enum StageDriver {
    package static let diskSerial = "construir-stages"
    /// The first guest protocol whose agent runs stages.
    package static let protocolVersion = 2

    /// A fresh nonce: the job cannot guess it before it runs, so its own output does not end
    /// a stage by accident.
    package static func makeNonce() -> String {
        (0..<16).map { _ in String(UInt8.random(in: 0...255), radix: 16).leftPadded(to: 2) }.joined()
    }

    package static func script(stages: [JobStage], nonce: String) -> String {
        let ordered = JobStage.runOrder(stages)
        let delimiter = "CONSTRUIR_STAGE_END_\(nonce)"
        var lines = [
            "#!/bin/bash",
            "# Written by the construir runner from job/construir.yml: the job's stages, in order.",
            "set -u",
            "# Where the guest keeps these files (the variables let a test run this script on a host).",
            "dir=${CONSTRUIR_STAGES_DIR:-/run/construir-stages}",
            "output=${CONSTRUIR_OUTPUT_DISK:-/dev/sdb}",
            "console=${CONSTRUIR_CONSOLE_COPY:-/job_output.txt}",
            "mkdir -p \"$dir/artifacts\"",
            "mkdir -p artifacts 2>/dev/null || true",
            "marker() {",
            "    local up rest",
            "    read -r up rest < /proc/uptime",
            "    up=${up/./}",
            "    printf '\\n::construir-stage %s %s %s::\\n' \(nonce) \"$*\" \"$((10#$up * 10))\"",
            "}",
            "keep_artifacts() {",
            "    local pattern file IFS=$'\\n'",
            "    shopt -s nullglob globstar dotglob",
            "    for pattern in \"$@\"; do",
            "        for file in $pattern; do",
            "            cp -a --parents -- \"$file\" \"$dir/artifacts/\" || echo \"construir: cannot keep $file\"",
            "        done",
            "    done",
            "    shopt -u nullglob globstar dotglob",
            "}",
        ]
        lines += OutputArchiveScript.function
        for (index, stage) in ordered.enumerated() {
            lines.append("cat > \"$dir/\(index).sh\" <<'\(delimiter)'")
            lines += stage.script
            lines.append(delimiter)
        }
        lines += ["failed=0"]
        for (index, stage) in ordered.enumerated() {
            let artifacts = stage.artifacts.map { ShellQuote.quote($0) }.joined(separator: " ")
            lines += [
                "if [ \"$failed\" = 0 ]; then",
                "    marker begin \(index)",
                "    bash -e \"$dir/\(index).sh\" < /dev/null",
                "    code=$?",
                "    marker end \(index) \"$code\"",
                artifacts.isEmpty ? "    :" : "    keep_artifacts \(artifacts)",
                stage.allowFailure ? "    :" : "    [ \"$code\" = 0 ] || failed=$code",
                "else",
                "    marker skip \(index)",
                "fi",
            ]
        }
        lines += [
            "if [ -d artifacts ] && [ -n \"$(ls -A artifacts 2>/dev/null)\" ]; then",
            "    cp -a artifacts/. \"$dir/artifacts/\" || echo \"construir: cannot keep artifacts/\"",
            "fi",
            "if [ -z \"$(head -c 512 \"$output\" 2>/dev/null | tr -d '\\0')\" ] && [ -n \"$(ls -A \"$dir/artifacts\")\" ]; then",
            "    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0} write_output \"$dir/artifacts\" \"$console\" \"$output\"",
            "fi",
            "exit \"$failed\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether `script` could hold `stages` safely: no line of a stage may be the heredoc's
    /// delimiter (a fresh nonce makes that as likely as guessing it).
    package static func isSafe(stages: [JobStage], nonce: String) -> Bool {
        !stages.contains { $0.script.contains { $0.split(separator: "\n").contains { $0 == "CONSTRUIR_STAGE_END_\(nonce)" } } }
    }

    /// Each stage's result, read from the markers in `console` (the console log's bytes; lines
    /// end in LF or CR LF).
    /// A stage with no begin marker was skipped or never reached (the `skip` markers are for
    /// people reading the console); one begun but not ended was interrupted. Markers are the guest's: only the first of each kind per stage counts,
    /// and indexes, codes and times must be in range.
    package static func results(console: [UInt8], stages: [JobStage], nonce: String) -> [StageResult] {
        let ordered = JobStage.runOrder(stages)
        var begins: [Int: (end: Int, uptime: Int64)] = [:]
        var ends: [Int: (start: Int, code: Int, uptime: Int64)] = [:]
        let prefix = Array("::construir-stage \(nonce) ".utf8)
        var lineStart = 0
        while lineStart < console.count {
            let newline = console[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? console.count
            // The serial console ends lines with CR LF.
            var line = console[lineStart..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.starts(with: prefix), line.count < 200, let text = String(validating: line.dropFirst(prefix.count), as: UTF8.self),
               text.hasSuffix("::") {
                let fields = text.dropLast(2).split(separator: " ")
                let index = fields.count > 1 ? Int(fields[1]) : nil
                if let index, ordered.indices.contains(index) {
                    switch fields[0] {
                    case "begin" where fields.count == 3 && begins[index] == nil:
                        if let uptime = Int64(fields[2]) { begins[index] = (min(newline + 1, console.count), uptime) }
                    case "end" where fields.count == 4 && ends[index] == nil:
                        if let code = Int(fields[2]), (0...255).contains(code), let uptime = Int64(fields[3]) {
                            ends[index] = (lineStart, code, uptime)
                        }
                    default:
                        break
                    }
                }
            }
            lineStart = newline + 1
        }
        let first = begins.values.map(\.uptime).min()
        return ordered.enumerated().map { index, stage in
            var result = StageResult(name: stage.name, status: .skipped, allowFailure: stage.allowFailure)
            guard let begin = begins[index] else { return result }
            result.start = first.map { Double(begin.uptime - $0) / 1000 }
            guard let end = ends[index], end.start >= begin.end - 1 else {
                result.status = .interrupted
                result.console = .init(offset: Int64(begin.end), length: Int64(console.count - begin.end))
                return result
            }
            result.status = end.code == 0 ? .passed : .failed
            result.exitCode = end.code
            result.duration = end.uptime >= begin.uptime ? Double(end.uptime - begin.uptime) / 1000 : nil
            // The stage's lines end where the end marker's line, and the line break the marker
            // puts before itself (CR LF on a serial console), begin.
            var stop = end.start - 1
            if stop > begin.end, console[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
            stop = max(begin.end, stop)
            result.console = .init(offset: Int64(begin.end), length: Int64(stop - begin.end))
            return result
        }
    }
}

/// `running/ID/stages.json`, there while a job with stages runs: its nonce and stages, so that
/// `construir logs --stage` can find a running stage's lines in the console log.
package struct StageMarkers: Codable, Sendable, Equatable {
    package static let fileName = "stages.json"

    package struct Stage: Codable, Sendable, Equatable {
        package var name: String
        package var allowFailure: Bool

        enum CodingKeys: String, CodingKey {
            case name
            case allowFailure = "allow_failure"
        }
    }

    package var nonce: String
    /// In the order they run.
    package var stages: [Stage]

    package init(nonce: String, stages: [JobStage]) {
        self.nonce = nonce
        self.stages = JobStage.runOrder(stages).map { Stage(name: $0.name, allowFailure: $0.allowFailure) }
    }

    /// Each stage's result so far, from `console`.
    package func results(console: [UInt8]) -> [StageResult] {
        StageDriver.results(console: console, stages: stages.map { JobStage(name: $0.name, script: [], allowFailure: $0.allowFailure) },
                            nonce: nonce)
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
