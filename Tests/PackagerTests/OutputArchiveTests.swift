import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport

/// The wrapper's output step (`write_output`), taken from a packaged job and run with bash on the
/// host (GNU tar and xz, as in images 0 and 1) against temporary directories instead of
/// /repo/artifacts, /job_output.txt and /dev/sdb.
@Suite struct OutputArchiveTests {
    /// A long path: GNU tar writes a ././@LongLink header for it, which must be stable too.
    static let longName = "long/" + String(repeating: "n", count: 120) + ".txt"

    /// The output function of a freshly packaged job's wrapper, as a script taking
    /// ARTIFACTS CONSOLE DEVICE.
    private func outputScript(in dir: String) async throws -> String {
        let repo = "\(dir)/project"
        try await makeRepository(at: repo)
        let job = try #require(try package(repo, into: "\(dir)/queue").files.first)
        let lines = try await wrapper(job).components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex(of: OutputArchiveScript.begin))
        let end = try #require(lines.firstIndex(of: OutputArchiveScript.end))
        let path = "\(dir)/write-output.sh"
        try writeFile(path, lines[begin...end].joined(separator: "\n") + "\nwrite_output \"$@\"\n")
        return path
    }

    /// Runs the output step; its exit status and its messages (standard error).
    private func writeOutput(_ script: String, artifacts: String, console: String, device: String, temporary: String,
                             path: String? = nil) async throws -> (status: Int32, messages: String) {
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        var environment = ["SOURCE_DATE_EPOCH": "\(commitTime)", "TMPDIR": temporary]
        if let path { environment["PATH"] = path }
        let (status, output) = try await runTool(["bash", "-c", "bash \"$0\" \"$1\" \"$2\" \"$3\" 2>&1", script, artifacts, console, device],
                                                 environment: environment)
        return (status, output)
    }

    /// Makes `files` (and an empty directory and a symlink) under `root` in the given order, each
    /// with its own modification time, and a console file next to it.
    private func makeTree(_ root: String, order: [String], firstTime: TimeInterval) throws -> String {
        for (index, name) in order.enumerated() {
            let path = "\(root)/\(name)"
            try writeFile(path, "contents of \(name)\n")
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: firstTime + Double(index) * 3600)],
                                                  ofItemAtPath: path)
        }
        try FileManager.default.createDirectory(atPath: "\(root)/empty", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/link", withDestinationPath: "a.txt")
        // Modes are set, not left to the umask (another test in this process may change it).
        for directory in [root, "\(root)/b", "\(root)/b/c", "\(root)/empty", "\(root)/long"] where FileSystem.isDirectory(directory) {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: firstTime - 86400),
                                                   .posixPermissions: 0o755], ofItemAtPath: directory)
        }
        let console = "\(root).console"
        try writeFile(console, "building\nbuilt\n")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: firstTime)], ofItemAtPath: console)
        return console
    }

    private func contents(of archive: String) async throws -> [String] {
        let (status, output) = try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar --numeric-owner --full-time -tvf -", "list", archive],
                                                 environment: ["TZ": "UTC"])
        #expect(status == 0)
        return output.split(separator: "\n").map(String.init)
    }

    @Test func twoRunsOfTheSameBuildGiveTheSameBytes() async throws {
        try await withTemporaryDirectory { dir in
            let script = try await outputScript(in: dir)
            let files = ["a.txt", "b/z.txt", "b/c/d.bin", Self.longName]
            let firstConsole = try makeTree("\(dir)/one", order: files, firstTime: 1_000_000_000)
            let secondConsole = try makeTree("\(dir)/two", order: files.reversed(), firstTime: 1_800_000_000)
            // The trees really differ in what a plain tar records.
            let plain = try await runTool(["bash", "-c", "cmp -s <(tar -C \"$1\" -cf - .) <(tar -C \"$2\" -cf - .)", "cmp", "\(dir)/one", "\(dir)/two"])
            #expect(plain.status != 0)

            let first = try await writeOutput(script, artifacts: "\(dir)/one", console: firstConsole, device: "\(dir)/one.tar.xz",
                                              temporary: "\(dir)/tmp")
            let second = try await writeOutput(script, artifacts: "\(dir)/two", console: secondConsole, device: "\(dir)/two.tar.xz",
                                               temporary: "\(dir)/tmp")
            #expect(first.status == 0 && first.messages.isEmpty, "\(first.messages)")
            #expect(second.status == 0 && second.messages.isEmpty, "\(second.messages)")
            #expect(try bytes(at: "\(dir)/one.tar.xz") == (try bytes(at: "\(dir)/two.tar.xz")))
            // The snapshot directory is gone.
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/tmp").isEmpty)

            let lines = try await contents(of: "\(dir)/one.tar.xz")
            let names = lines.map { line in
                line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).joined(separator: " ").components(separatedBy: " -> ")[0]
            }
            #expect(names == ["./", "./a.txt", "./b/", "./b/c/", "./b/c/d.bin", "./b/z.txt", "./empty/", "./link", "./long/",
                              "./\(Self.longName)", "job_output.txt"])
            // Owner 0/0 and the commit's time (2023-11-14 22:13:20 UTC) on every entry.
            for line in lines {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                #expect(fields.count > 4 && fields[1] == "0/0" && fields[3] == "2023-11-14" && fields[4] == "22:13:20", "\(line)")
            }
            let (status, console) = try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar -xOf - job_output.txt", "x", "\(dir)/one.tar.xz"])
            #expect(status == 0)
            #expect(console == "building\nbuilt\n")
            // One xz stream, one block: single-threaded, as `xz -T1` writes it.
            let (listed, info) = try await runTool(["xz", "--robot", "-l", "\(dir)/one.tar.xz"])
            #expect(listed == 0)
            let totals = try #require(info.split(separator: "\n").first { $0.hasPrefix("totals") }).split(separator: "\t")
            #expect(totals[1] == "1" && totals[2] == "1", "\(info)")
        }
    }

    /// Without GNU tar (a busybox image, say) the plain command still writes the output.
    @Test func anotherTarFallsBackToThePlainCommand() async throws {
        try await withTemporaryDirectory { dir in
            let script = try await outputScript(in: dir)
            let console = try makeTree("\(dir)/one", order: ["a.txt"], firstTime: 1_000_000_000)
            let realTar = try #require(try await runTool(["bash", "-c", "command -v tar"]).output.split(separator: "\n").first)
            try writeFile("\(dir)/bin/tar", "#!/bin/bash\nif [ \"$1\" = --version ]; then echo 'tar (busybox) 1.36'; exit 0; fi\nexec \(realTar) \"$@\"\n",
                          executable: true)
            let path = "\(dir)/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
            let result = try await writeOutput(script, artifacts: "\(dir)/one", console: console, device: "\(dir)/out.tar.xz",
                                               temporary: "\(dir)/tmp", path: path)
            #expect(result.status == 0)
            #expect(result.messages.contains("tar is not GNU tar, so the output archive is not reproducible"), "\(result.messages)")
            let (status, output) = try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar -xOf - ./a.txt job_output.txt", "x", "\(dir)/out.tar.xz"])
            #expect(status == 0)
            #expect(output == "contents of a.txt\nbuilding\nbuilt\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/tmp").isEmpty)
        }
    }

    @Test func aFailedWriteIsReported() async throws {
        try await withTemporaryDirectory { dir in
            let script = try await outputScript(in: dir)
            let console = try makeTree("\(dir)/one", order: ["a.txt"], firstTime: 1_000_000_000)
            let result = try await writeOutput(script, artifacts: "\(dir)/one", console: console, device: "\(dir)/no/such/disk",
                                               temporary: "\(dir)/tmp")
            #expect(result.status == 1)
            #expect(result.messages.contains("construir: writing \(dir)/one to the output disk failed"), "\(result.messages)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/tmp").isEmpty)
        }
    }
}
