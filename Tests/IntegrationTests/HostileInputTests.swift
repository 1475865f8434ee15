import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

/// Builds job files for tests: from a script, with GNU tar, padded like `jobs/make-job.sh`.
struct JobFactory {
    let directory: String

    /// Writes `job/construir` (and `files`, relative to the job root) and packs them into `output`.
    /// `extra` are further tar arguments appended after `job` (e.g. `-C / dev/null`).
    @discardableResult
    func make(_ output: String, script: String, files: [String: String] = [:], extra: [String] = [],
              absoluteNames: Bool = false, padTo: Int = 1 << 20) async throws -> String {
        let source = "\(directory)/src-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(source)/job", withIntermediateDirectories: true)
        try script.write(toFile: "\(source)/job/construir", atomically: true, encoding: .utf8)
        for (path, content) in files {
            let full = "\(source)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: true, encoding: .utf8)
        }
        let temporary = "\(directory)/.building.tar.xz"
        var arguments = ["tar", "--owner=0", "--group=0", "--numeric-owner", "-cJf", temporary]
        if absoluteNames { arguments.append("-P") }
        arguments += ["-C", source, "job"] + files.keys.filter { !$0.hasPrefix("job/") }.map { String($0.split(separator: "/")[0]) } + extra
        let (status, log) = try await runTool(arguments)
        guard status == 0 else { throw ConstruirTestError("tar failed: \(log)") }
        if padTo > 0, try FileSystemSize.of(temporary) < padTo {
            try FileHandle(forWritingAtPath: temporary).map { try $0.truncate(atOffset: UInt64(padTo)); try $0.close() }
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: output)
        return output
    }
}

enum FileSystemSize {
    static func of(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}

extension VMSuites {
/// Every kind of bad input ends in done/ with a status that says what happened, and the runner
/// goes on to the next job. Rejected jobs never boot a VM.
@Suite(.serialized) struct HostileInputTests {
    struct Expectation {
        var status: JobResult.Status
        var error: String?
        var booted: Bool
        var exitCode: Int? = nil
    }

    @Test func everyBadInputEndsWithItsStatus() async throws {
        let repository = RunnerIntegrationTests.repository
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let queue = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
            let jobs = JobFactory(directory: dir)
            let ok = "echo fine\n"
            var expected: [String: Expectation] = [:]

            // Refused before booting.
            _ = FileManager.default.createFile(atPath: "\(queue)/empty_i0.tar.xz", contents: Data())
            expected["empty"] = .init(status: .rejected, error: "the job file is empty", booted: false)
            try Data(String(repeating: "plain text, not xz\n", count: 100).utf8).write(to: URL(fileURLWithPath: "\(queue)/text_i0.tar.xz"))
            expected["text"] = .init(status: .rejected, error: "does not start with an xz stream", booted: false)
            let whole = try await jobs.make("\(dir)/whole.tar.xz", script: ok, files: ["job/data": String(repeating: "x7", count: 300_000)], padTo: 0)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(queue)/truncated_i0.tar.xz"))
            expected["truncated"] = .init(status: .rejected, error: "truncated", booted: false)
            try await jobs.make("\(queue)/huge_i0.tar.xz", script: ok, padTo: 3 << 20)
            expected["huge"] = .init(status: .rejected, error: "--max-job-size", booted: false)
            try "outside".write(toFile: "\(dir)/outside.txt", atomically: true, encoding: .utf8)
            try await jobs.make("\(queue)/absolute_i0.tar.xz", script: ok, extra: ["\(dir)/outside.txt"], absoluteNames: true)
            expected["absolute"] = .init(status: .rejected, error: "absolute path", booted: false)
            try await jobs.make("\(queue)/dotdot_i0.tar.xz", script: ok, extra: ["../outside.txt"], absoluteNames: true)
            expected["dotdot"] = .init(status: .rejected, error: "'..' component", booted: false)
            try await jobs.make("\(queue)/device_i0.tar.xz", script: ok, extra: ["-C", "/", "dev/null"])
            expected["device"] = .init(status: .rejected, error: "device, FIFO or socket", booted: false)
            try await runTool(["sh", "-c", "mkdir -p \(dir)/ns/other && echo x > \(dir)/ns/other/f && tar -cJf \(queue)/noscript_i0.tar.xz -C \(dir)/ns other"])
            expected["noscript"] = .init(status: .rejected, error: "has no job/construir", booted: false)
            try await jobs.make("\(queue)/evil\nname\u{1b}[31m_i0.tar.xz", script: ok)
            expected["evil_name__31m"] = .init(status: .rejected, error: "control characters", booted: false)
            let long = String(repeating: "l", count: 210)
            try await jobs.make("\(queue)/\(long).tar.xz", script: ok)
            expected[String(repeating: "l", count: 100)] = .init(status: .rejected, error: "longer than 200 bytes", booted: false)
            try await jobs.make("\(queue)/greedy_i0.tar.xz", script: ok, files: ["job/construir.yml": "memory: 64G\n"])
            expected["greedy"] = .init(status: .rejected, error: "--max-memory", booted: false)
            try await jobs.make("\(queue)/typo_i0.tar.xz", script: ok, files: ["job/construir.yml": "timeuot: 5m\n"])
            expected["typo"] = .init(status: .rejected, error: "unknown field 'timeuot'", booted: false)

            // Booted, and the guest misbehaves.
            try await jobs.make("\(queue)/qcow_i0.tar.xz", script: "printf 'QFI\\373\\0\\0\\0\\3' > /dev/sdb; sync\n")
            expected["qcow"] = .init(status: .error, error: "does not start with an xz stream", booted: true)
            try await jobs.make("\(queue)/fill_i0.tar.xz", script: "head -c 3000000 /dev/urandom > big; tar -cJf /dev/sdb big; echo $?\n")
            expected["fill"] = .init(status: .error, error: "truncated", booted: true)
            try await jobs.make("\(queue)/flood_i0.tar.xz", script: "while :; do echo 'flooding the console flooding the console'; done\n")
            expected["flood"] = .init(status: .error, error: "console log went over", booted: true)
            try await jobs.make("\(queue)/hog_i0.tar.xz", script: "tail /dev/zero\n")
            expected["hog"] = .init(status: .failed, error: nil, booted: true, exitCode: 137)
            try await jobs.make("\(queue)/forkbomb_i0.tar.xz", script: "bomb() { bomb | bomb & }; bomb; sleep 1000\n",
                          files: ["job/construir.yml": "timeout: 15s\n"])
            expected["forkbomb"] = .init(status: .timedOut, error: "timed out after 15s", booted: true)
            // A well-behaved job with a manifest: its environment and limits apply.
            try await jobs.make("\(queue)/manifest_i0.tar.xz",
                          script: "printf '%s|%s' \"$GREETING\" \"$(cat /proc/meminfo | head -1)\" > /job/env.txt; tar -C /job -cJf /dev/sdb env.txt\n",
                          files: ["job/construir.yml": "memory: 384M\nenvironment:\n  GREETING: \"it's $HOME `date`\"\n"])
            expected["manifest"] = .init(status: .passed, error: nil, booted: true, exitCode: 0)

            let runner = try makeTestRunner(in: dir, images: "\(repository)/images", timeout: .seconds(60), memoryMiB: 256) { options, configuration in
                configuration.slots = 2
                options.maxConsoleBytes = 256 << 10
                options.jobLimits.maxFileBytes = 2 << 20
                options.policy.maxMemoryMiB = 1024
            }
            try await runner.run()

            #expect(try FileManager.default.contentsOfDirectory(atPath: queue).filter { !$0.hasPrefix(".") }.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(queue)/.construir/running").isEmpty)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")) == Set(expected.keys))
            for (name, expectation) in expected.sorted(by: { $0.key < $1.key }) {
                let result = try readResult("\(dir)/done/\(name)")
                #expect(result.status == expectation.status, "\(name): \(result.status) \(result.error ?? "")")
                if let error = expectation.error {
                    #expect(result.error?.contains(error) == true, "\(name): \(result.error ?? "no error")")
                }
                if let code = expectation.exitCode { #expect(result.exitCode == code, "\(name): exit \(String(describing: result.exitCode))") }
                #expect((result.durations.vmStart != nil) == expectation.booted, "\(name): booted \(result.durations.vmStart != nil)")
                #expect(FileManager.default.fileExists(atPath: "\(dir)/done/\(name)/job.tar.xz"), "\(name): job file kept")
            }
            // The console was cut within the cap, its last line saying so.
            let flood = try FileSystemSize.of("\(dir)/done/flood/console.log")
            #expect(flood <= 256 << 10 && flood > (256 << 10) - 1024, "\(flood)")
            #expect(try String(decoding: Data(contentsOf: URL(fileURLWithPath: "\(dir)/done/flood/console.log")).suffix(200), as: UTF8.self)
                .contains("console log cut at \(256 << 10) bytes"))
            // The manifest's environment reached the job verbatim, and its memory applied.
            let manifest = try readResult("\(dir)/done/manifest")
            #expect(manifest.limits?.memoryMiB == 384)
            let seen = try String(contentsOfFile: "\(dir)/done/manifest/output/env.txt", encoding: .utf8)
            #expect(seen.hasPrefix("it's $HOME `date`|MemTotal:"), "\(seen)")
            #expect(try SharedHypervisor.instance.get().runningDomainNamesNow().filter { $0.hasPrefix("construir-") }.isEmpty)
            #expect(try String(contentsOfFile: "\(dir)/outside.txt", encoding: .utf8) == "outside")
        }
    }
}
}
