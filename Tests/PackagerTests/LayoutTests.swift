import ConstruirSystem
import Foundation
import Packager
import Testing
import TestSupport

@Suite struct LayoutTests {
    @Test func jobHoldsTheTrackedFilesUnderRepoAndAnExecutableWrapper() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["README.md": "hello\n", "src/main.c": "int main(void) { return 0; }\n",
                                                 "tools/gen.sh": "#!/bin/sh\necho gen\n"],
                               executables: ["tools/gen.sh"])
            try FileManager.default.createSymbolicLink(atPath: "\(repo)/link", withDestinationPath: "src/main.c")
            try await git(["add", "link"], in: repo)
            try await git(["commit", "-q", "-m", "link"], in: repo)
            // Untracked and ignored files are not part of the commit.
            try writeFile("\(repo)/untracked.txt", "not committed")

            let result = try package(repo, into: "\(dir)/queue")
            let job = try #require(result.files.first)
            let lines = try await listing(job)
            let entries = Dictionary(uniqueKeysWithValues: lines.map { line -> (String, String) in
                let name = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).joined(separator: " ")
                return (name.components(separatedBy: " -> ")[0], line)
            })

            #expect(Set(entries.keys) == ["job/", "job/construir", "job/source.json", "repo/", "repo/README.md", "repo/construir", "repo/link",
                                          "repo/src/", "repo/src/main.c", "repo/tools/", "repo/tools/gen.sh"])
            #expect(!lines.contains { $0.contains(".git") })
            #expect(entries["job/construir"]?.hasPrefix("-rwxr-xr-x 0/0") == true)
            #expect(entries["repo/construir"]?.hasPrefix("-rwxr-xr-x 0/0") == true)
            #expect(entries["repo/tools/gen.sh"]?.hasPrefix("-rwxr-xr-x 0/0") == true)
            #expect(entries["repo/README.md"]?.hasPrefix("-rw-r--r-- 0/0") == true)
            #expect(entries["repo/src/"]?.hasPrefix("drwxr-xr-x 0/0") == true)
            #expect(entries["job/source.json"]?.hasPrefix("-rw-r--r-- 0/0") == true)
            #expect(entries["repo/link"]?.hasPrefix("lrwxrwxrwx 0/0") == true)
            #expect(entries["repo/link"]?.hasSuffix("repo/link -> src/main.c") == true)
            // Every entry carries the commit's time (2023-11-14 22:13:20 UTC).
            #expect(lines.allSatisfy { $0.contains("2023-11-14 22:13:20") })

            try await extract(job, to: "\(dir)/x")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/src/main.c", encoding: .utf8) == "int main(void) { return 0; }\n")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/x/repo/link") == "src/main.c")
            #expect(FileManager.default.isExecutableFile(atPath: "\(dir)/x/job/construir"))
            // What the job was made from, for result.json's `source`.
            #expect(try String(contentsOfFile: "\(dir)/x/job/source.json", encoding: .utf8)
                    == "{\"commit\":\"\(result.commit)\",\"uncommitted_changes\":false}\n")
            #expect(result.entries == lines.count)
        }
    }

    @Test func anImageDigestLandsInTheJobsManifest() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let digest = String(repeating: "0123456789abcdef", count: 4)
            func pinned(_ queue: String, images: [Int] = [1], digest: String = digest) throws -> PackageResult {
                try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
                return try JobPackager().package(PackageRequest(repository: repo, images: images, imagesDirectory: "\(dir)/none",
                                                                destination: .directory(queue), imageDigest: digest))
            }
            let job = try #require(try pinned("\(dir)/a").files.first)
            #expect(try await names(job).contains("job/construir.yml"))
            try await extract(job, to: "\(dir)/x")
            let manifest = try String(contentsOfFile: "\(dir)/x/job/construir.yml", encoding: .utf8)
            #expect(manifest == "image_digest: \(digest)\n", "\(manifest)")
            #expect(try await listing(job).contains { $0.hasPrefix("-rw-r--r-- 0/0") && $0.hasSuffix(" job/construir.yml") })
            // Still reproducible: the same request gives the same bytes.
            let again = try #require(try pinned("\(dir)/b").files.first)
            #expect(try bytes(at: again) == bytes(at: job))
            // Without a digest there is no manifest, as before.
            #expect(!(try await names(try #require(try package(repo, into: "\(dir)/c").files.first)).contains("job/construir.yml")))
            // A digest names one image, and must look like one.
            let two = expectFailure(.invalidArgument) { _ = try pinned("\(dir)/d", images: [0, 1]) }
            #expect(two.contains("give exactly one image"))
            let bad = expectFailure(.invalidArgument) { _ = try pinned("\(dir)/e", digest: "ABC") }
            #expect(bad.contains("the image digest must be 64 lowercase hex digits"), "\(bad)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/d").isEmpty)
        }
    }

    @Test func directoriesComeFirstAndSameNamedFilesStayTogether() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["a/util.swift": "1", "b/other.swift": "2", "z/util.swift": "3", "b/c/d.txt": "4"])
            let job = try #require(try package(repo, into: "\(dir)/queue").files.first)
            #expect(try await names(job) == [
                "job/", "repo/", "repo/a/", "repo/b/", "repo/b/c/", "repo/z/",
                // path order, except that z/util.swift joins a/util.swift, and repo/construir
                // joins job/construir
                "job/construir", "repo/construir", "job/source.json",
                "repo/a/util.swift", "repo/z/util.swift",
                "repo/b/c/d.txt", "repo/b/other.swift",
            ])
        }
    }

    @Test func wrapperRunsTheScriptAndWritesTheArtifacts() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let job = try #require(try package(repo, into: "\(dir)/queue").files.first)
            let script = try await wrapper(job)
            #expect(script.hasPrefix("#!/bin/bash\n"))
            #expect(script.contains("mkdir -p /repo/artifacts\n"))
            #expect(script.contains("cd /repo || exit 1\n"))
            #expect(script.contains("if [ -x ./construir ]; then\n    ./construir\nelse\n    bash ./construir\nfi\nstatus=$?\n"))
            #expect(script.contains("\nwrite_output /repo/artifacts /job_output.txt /dev/sdb\n"))
            // Reproducible with GNU tar; the plain command otherwise.
            #expect(script.contains("tar --sort=name --format=gnu --mtime=\"@$SOURCE_DATE_EPOCH\" --owner=0 --group=0 --numeric-owner "))
            #expect(script.contains("| xz -T1 -6 --check=crc64 -c > \"$device\"\n"))
            #expect(script.contains("tar -C \"$artifacts\" -cJf \"$device\" . -C \"$snapshot\" job_output.txt\n"))
            #expect(script.contains("\nexport SOURCE_DATE_EPOCH='\(commitTime)'\n"))
            #expect(script.hasSuffix("exit \"$status\"\n"))
            #expect(try await runTool(["bash", "-n", "-c", script]).status == 0)
        }
    }

    /// The wrapper's logic, run on the host with /repo and /dev/sdb replaced by temporary paths:
    /// the script's exit code comes back and the artifacts are in the output.
    @Test(arguments: [true, false])
    func wrapperKeepsTheExitCodeAndCollectsArtifacts(executable: Bool) async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, script: "echo built > artifacts/result.txt\nexit 7\n")
            if !executable {
                try await git(["update-index", "--chmod=-x", "construir"], in: repo)
                try await git(["commit", "-q", "-m", "not executable"], in: repo)
            }
            let job = try #require(try package(repo, into: "\(dir)/queue").files.first)
            try await extract(job, to: "\(dir)/root")
            try writeFile("\(dir)/root/job_output.txt", "console so far\n")
            let script = try await wrapper(job)
                .replacingOccurrences(of: "/repo", with: "\(dir)/root/repo")
                .replacingOccurrences(of: "/dev/sdb", with: "\(dir)/out.tar.xz")
                .replacingOccurrences(of: " /job_output.txt ", with: " \(dir)/root/job_output.txt ")
            try writeFile("\(dir)/wrapper", script)
            #expect(try await runTool(["bash", "\(dir)/wrapper"], in: dir).status == 7)
            let (status, output) = try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar -xOf - ./result.txt job_output.txt", "x", "\(dir)/out.tar.xz"])
            #expect(status == 0)
            #expect(output == "built\nconsole so far\n")
        }
    }

    @Test func namesAreRepoShortCommitImage() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/My Project!"
            try await makeRepository(at: repo)
            let short = try await git(["rev-parse", "--short=12", "HEAD"], in: repo)
            let result = try package(repo, into: "\(dir)/queue", images: [0, 1])
            #expect(result.shortCommit == short)
            #expect(result.jobName == "My-Project-_\(short)")
            #expect(result.files == ["\(dir)/queue/My-Project-_\(short)_i0.tar.xz", "\(dir)/queue/My-Project-_\(short)_i1.tar.xz"])
            #expect(try bytes(at: result.files[0]) == (try bytes(at: result.files[1])))
            #expect(try dotfiles(in: "\(dir)/queue").isEmpty)
        }
    }

    @Test func sanitizingNames() {
        #expect(JobPackager.sanitize("construir") == "construir")
        #expect(JobPackager.sanitize("a b/c:d") == "a-b-c-d")
        #expect(JobPackager.sanitize("..hidden") == "hidden")
        #expect(JobPackager.sanitize("ünï") == "-n-")
        #expect(JobPackager.sanitize("...") == "repo")
        #expect(JobPackager.sanitize("v1.2_x-y") == "v1.2_x-y")
        #expect(JobPackager.fileName(jobName: "p_abc", image: 3) == "p_abc_i3.tar.xz")
    }

    @Test func bareRepositoriesAndSubdirectoriesWork() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["sub/file.txt": "x"])
            try await git(["clone", "-q", "--bare", repo, "\(dir)/project.git"], in: dir)
            let bare = try package("\(dir)/project.git", into: "\(dir)/bare")
            #expect(bare.jobName.hasPrefix("project_"))
            // A directory inside the work tree means the whole repository.
            let inner = try package("\(repo)/sub", into: "\(dir)/inner")
            #expect(inner.jobName == bare.jobName)
            #expect(try await names(inner.files[0]).contains("repo/sub/file.txt"))
        }
    }

    @Test func progressIsReportedPerEntry() async throws {
        final class Recorder: PackageProgress {
            var updates: [(Int, Int)] = []
            var finished = false
            func update(completed: Int, total: Int) { updates.append((completed, total)) }
            func finish() { finished = true }
        }
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["a": "1", "b/c": "2"])
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let recorder = Recorder()
            let result = try JobPackager().package(PackageRequest(repository: repo, imagesDirectory: "\(dir)/none",
                                                                  destination: .directory("\(dir)/queue")), progress: recorder)
            #expect(recorder.updates.map(\.0) == Array(1...result.entries))
            #expect(recorder.updates.allSatisfy { $0.1 == result.entries })
            #expect(recorder.finished)
            // Not a terminal: no progress bar.
            let pipe = Pipe()
            #expect(TerminalProgressBar(fd: pipe.fileHandleForWriting.fileDescriptor) == nil)
        }
    }
}
