import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Archive

@Suite struct JobImageInspectorTests {
    private let script = TarEntry.file("job/construir", "echo hi\n", mode: 0o755)

    private func inspect(_ entries: [TarEntry], padTo size: Int? = nil,
                         limits: JobImageLimits = JobImageLimits()) async throws -> Result<JobImageInspection, ConstruirError> {
        try await withTemporaryDirectory { dir in
            let path = "\(dir)/job.tar.xz"
            try writeTarXZ(entries, to: path)
            if let size { try FileHandle(forWritingAtPath: path).map { try $0.truncate(atOffset: UInt64(size)); try $0.close() } }
            do throws(ConstruirError) { return .success(try JobImageInspector.inspect(path, limits: limits)) } catch { return .failure(error) }
        }
    }

    @Test func aJobIsReadToItsEndWithItsManifest() async throws {
        let manifest = "timeout: 5m\n"
        let result = try await inspect([TarEntry("job", .directory), script, .file("job/construir.yml", manifest),
                                        .file("repo/a.txt", String(repeating: "a", count: 1000))], padTo: 1 << 20)
        let inspection = try result.get()
        #expect(inspection.entries == 4)
        #expect(inspection.unpackedBytes == Int64(8 + manifest.utf8.count + 1000))
        #expect(inspection.manifest == Array(manifest.utf8))
        #expect(inspection.compressedLength > 0 && inspection.compressedLength < 1 << 20)
    }

    @Test func aSourceRecordIsReadAndChecked() async throws {
        let commit = String(repeating: "ab", count: 20)
        let good = try await inspect([script, .file("job/source.json", "{\"commit\":\"\(commit)\",\"uncommitted_changes\":true}\n")]).get()
        #expect(good.source == PackagedSource(commit: commit, uncommittedChanges: true))
        #expect(try await inspect([script]).get().source == nil)
        for bad in [TarEntry.file("job/source.json", "{\"commit\":\"\(commit)\"}"),
                    TarEntry.file("job/source.json", String(repeating: " ", count: 2000)),
                    TarEntry("job/source.json", .symlink("/etc/passwd"))] {
            guard case .failure(let error) = try await inspect([script, bad]) else { Issue.record("accepted \(bad.path)"); continue }
            #expect(error.description.contains("job/source.json"), "\(error)")
        }
    }

    @Test(arguments: [
        ([TarEntry.file("job/other", "x")], "has no job/construir"),
        ([TarEntry.file("/etc/passwd", "x")], "absolute path"),
        ([TarEntry.file("job/../../x", "x")], "'..' component"),
        ([TarEntry.file("job/bad\u{1}name", "x")], "control character"),
        ([TarEntry("job/null", .characterDevice)], "device, FIFO or socket"),
        ([TarEntry("job/pipe", .fifo)], "device, FIFO or socket"),
        ([TarEntry("job/x", .hardlink("../outside"))], "'..' component"),
    ] as [([TarEntry], String)])
    func badJobsAreRefusedWithAReason(entries: [TarEntry], reason: String) async throws {
        let all = entries.first?.path == "job/other" ? entries : [script] + entries
        let result = try await inspect(all)
        guard case .failure(let error) = result else { Issue.record("accepted: \(entries.map(\.path))"); return }
        #expect(error.description.contains(reason), "\(error)")
    }

    @Test func limitsAreEnforced() async throws {
        let big = [script, TarEntry("job/big", .zeros(3 << 20))]
        var limits = JobImageLimits()
        limits.maxUnpackedBytes = 2 << 20
        guard case .failure(let unpacked) = try await inspect(big, limits: limits) else { Issue.record("bomb accepted"); return }
        #expect(unpacked.code == .limitExceeded)
        limits = JobImageLimits()
        limits.maxEntries = 3
        let many = [script] + (1...5).map { TarEntry.file("job/f\($0)") }
        guard case .failure(let entries) = try await inspect(many, limits: limits) else { Issue.record("flood accepted"); return }
        #expect(entries.description.contains("more than 3 entries"))
        limits = JobImageLimits()
        limits.maxFileBytes = 4096
        guard case .failure(let file) = try await inspect([script], padTo: 8192, limits: limits) else { Issue.record("big file accepted"); return }
        #expect(file.description.contains("--max-job-size"))
    }

    @Test func brokenFilesAreRefused() async throws {
        try await withTemporaryDirectory { dir in
            let empty = "\(dir)/empty"
            _ = FileManager.default.createFile(atPath: empty, contents: Data())
            #expect(throws: ConstruirError.self) { try JobImageInspector.inspect(empty) }
            let text = "\(dir)/text"
            try Data(String(repeating: "not a job ", count: 100).utf8).write(to: URL(fileURLWithPath: text))
            #expect(throws: ConstruirError.self) { try JobImageInspector.inspect(text) }
            let whole = "\(dir)/whole"
            try writeTarXZ([script, TarEntry("job/data", .zeros(200_000))], to: whole)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
            let truncated = "\(dir)/truncated"
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
            do throws(ConstruirError) {
                _ = try JobImageInspector.inspect(truncated)
                Issue.record("a truncated job was accepted")
            } catch {
                #expect(error.code == .xz, "\(error)")
            }
        }
    }
}
