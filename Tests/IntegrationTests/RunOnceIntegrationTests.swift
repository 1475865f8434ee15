import Foundation
import Runner
import Testing
import TestSupport

extension VMSuites {
/// run-once's private runtime directory: a fresh libvirt root, and one planted by another user.
@Suite(.serialized) struct RunOnceIntegrationTests {
    static let repository = RunnerIntegrationTests.repository
    static let images = "\(repository)/images"

    /// run-once with `TMPDIR=dir` and no XDG_RUNTIME_DIR; standard output and error together.
    private func runOnce(_ job: String, tmp: String, done: String) async throws -> (status: Int32, output: String) {
        try await runTool(["/bin/sh", "-c", #"exec "$0" "$@" 2>&1"#, try construirExecutable(), "run-once", job,
                                "--done", done, "--images", Self.images, "--memory", "512M", "--timeout", "180s", "--quiet"],
                               environment: ["TMPDIR": tmp, "XDG_RUNTIME_DIR": ""])
    }

    /// A new, empty TMPDIR for run-once, short enough for libvirt's socket paths (run-once keeps
    /// no root below a long one); removed after `body`.
    private func withShortTMPDIR<T>(_ body: (String) async throws -> T) async throws -> T {
        var template = Array("/tmp/cro-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ConstruirTestError("mkdtemp failed: errno \(errno)") }
        let path = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    private func pack(_ job: String, to destination: String) async throws {
        let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/\(job)", destination])
        guard status == 0 else { throw ConstruirTestError("make-job.sh failed for \(job)") }
    }

    /// libvirt probes QEMU's capabilities on a new root with daemonised QEMU processes and waits
    /// for each to vanish; run-once, a subreaper, used to adopt them without reaping them, and
    /// its first run on a new root took 163 s instead of about 7.
    @Test func theFirstRunOnAFreshRootDoesNotWaitForTheProbe() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in try await withShortTMPDIR { tmp in
            try await pack("hello", to: "\(dir)/hello_i0.tar.xz")
            let started = ContinuousClock.now
            let run = try await runOnce("\(dir)/hello_i0.tar.xz", tmp: tmp, done: "\(dir)/done")
            let elapsed = ContinuousClock.now - started
            print("run-once on a fresh libvirt root: \(elapsed)")
            #expect(run.status == 0, "\(run.output)")
            #expect(try readResult("\(dir)/done/hello").status == .passed)
            // The root is new, and kept for the next run: mode 0700, this user's.
            var st = stat()
            #expect(lstat("\(tmp)/construir-\(geteuid())/once-1", &st) == 0 && st.st_mode & 0o777 == 0o700 && st.st_uid == geteuid())
            // Each probe left unreaped cost 40-60 s; a run without that wait is far below it.
            #expect(elapsed < .seconds(60), "run-once took \(elapsed) on a fresh root")
        } }
    }

    /// A directory planted where run-once keeps its libvirt roots, by another user: it must be
    /// refused with an error naming it and its owner, and nothing written into it.
    @Test(.enabled(if: geteuid() == 0, "skipped: planting a directory as another user needs root"))
    func aRuntimeDirectoryPlantedByAnotherUserIsRefusedAndLeftAlone() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in try await withShortTMPDIR { tmp in
            chmod(tmp, 0o1777)
            try await pack("hello", to: "\(dir)/hello_i0.tar.xz")
            // Where run-once keeps its roots now, and where it kept them before.
            let planted = ["\(tmp)/construir-0", "\(tmp)/construir-0-once-1"]
            for path in planted {
                try FileManager.default.createDirectory(atPath: "\(path)/etc", withIntermediateDirectories: true)
                for part in [path, "\(path)/etc"] {
                    chmod(part, 0o777)
                    #expect(chown(part, 65534, 65534) == 0)
                }
            }
            #expect(FileManager.default.createFile(atPath: "\(tmp)/construir-0-once-1.lock", contents: nil))
            chown("\(tmp)/construir-0-once-1.lock", 65534, 65534)

            let run = try await runOnce("\(dir)/hello_i0.tar.xz", tmp: tmp, done: "\(dir)/done")
            #expect(run.status == 70, "\(run.output)")
            #expect(run.output.contains("\(tmp)/construir-0") && run.output.contains("uid 65534"), "\(run.output)")
            for path in planted {
                #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["etc"], "\(path)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: "\(path)/etc").isEmpty, "\(path)/etc")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/done/hello"))
        } }
    }
}
}
