import CArchive
import ConstruirSystem
import Foundation
import Glibc
import JobModel
import XZ

/// Keeps a secrets job's values out of its job_output.txt, in the extracted output and in the
/// kept archive alike: the agent writes that file from what the job printed, and a job that
/// prints a value by mistake (`set -x`, a verbose tool) must not publish it.
///
/// The archive is rewritten only when one of its job_output.txt entries holds a value: every
/// other entry is copied as it was (type, mode, time, data), so a clean job's archive keeps its
/// bytes. Blocking.
package enum OutputRedaction {
    package static let fileName = "job_output.txt"

    /// Redacts `directory/job_output.txt` and the job_output.txt entries of `archive`; returns
    /// how many values were replaced in all.
    package static func redact(output directory: String, archive: String, secrets: [(name: String, value: String)],
                               maxDecompressedBytes: Int64) throws(ConstruirError) -> Int {
        guard !secrets.isEmpty else { return 0 }
        var replaced = 0
        let extracted = "\(directory)/\(fileName)"
        var st = stat()
        if lstat(extracted, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
            replaced += try redactFile(extracted, secrets: secrets)
        }
        guard FileSystem.exists(archive), try archiveNeedsRedaction(archive, secrets: secrets, maxDecompressedBytes: maxDecompressedBytes) else {
            return replaced
        }
        replaced += try rewrite(archive, secrets: secrets, maxDecompressedBytes: maxDecompressedBytes)
        return replaced
    }

    /// Rewrites `path` redacted when it holds a value; returns how many were replaced.
    static func redactFile(_ path: String, secrets: [(name: String, value: String)]) throws(ConstruirError) -> Int {
        let temporary = "\(path).redacting"
        guard let input = FileHandle(forReadingAtPath: path),
              FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o644]),
              let output = FileHandle(forWritingAtPath: temporary) else {
            throw ConstruirError(.system, "cannot redact \(path)")
        }
        defer { try? input.close(); try? output.close(); try? FileManager.default.removeItem(atPath: temporary) }
        var redactor = SecretRedactor(secrets: secrets)
        do {
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                try output.write(contentsOf: redactor.feed(chunk))
            }
            try output.write(contentsOf: redactor.finish())
            try output.synchronize()
        } catch {
            throw ConstruirError(.system, "cannot redact \(path): \(error)")
        }
        guard redactor.replacements > 0 else { return 0 }
        do { try FileSystem.renameReplacing(temporary, path) } catch {
            throw ConstruirError(.system, "cannot redact \(path): \(error)")
        }
        return redactor.replacements
    }

    private static func isJobOutput(_ entry: TarWalk.Entry) -> Bool {
        entry.type == construir_ae_ifreg() && entry.hardlink == nil && OutputDigest.normalised(entry.name) == Array(fileName.utf8)
    }

    private static func archiveNeedsRedaction(_ archive: String, secrets: [(name: String, value: String)],
                                              maxDecompressedBytes: Int64) throws(ConstruirError) -> Bool {
        let reader = try XZStreamReader(path: archive, maxDecompressedBytes: maxDecompressedBytes, subject: "the output archive")
        defer { reader.discard() }
        var found = false
        try TarWalk(reader: reader).walk { entry throws(ConstruirError) in
            guard isJobOutput(entry) else { return false }
            var redactor = SecretRedactor(secrets: secrets)
            try entry.streamData { _ = redactor.feed($0) }
            _ = redactor.finish()
            found = redactor.replacements > 0
            return found
        }
        return found
    }

    /// Copies `archive` entry by entry with its job_output.txt entries redacted, then replaces it.
    private static func rewrite(_ archive: String, secrets: [(name: String, value: String)],
                                maxDecompressedBytes: Int64) throws(ConstruirError) -> Int {
        let reader = try XZStreamReader(path: archive, maxDecompressedBytes: maxDecompressedBytes, subject: "the output archive")
        defer { reader.discard() }
        let temporary = "\(archive).redacting"
        let scratch = "\(archive).entry"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let writer = try JobImageWriter(path: temporary, xz: XZWriter.Options(threads: 0, blockSize: 8 << 20))
        var replaced = 0
        try TarWalk(reader: reader).forEach { entry throws(ConstruirError) in
            let time = entry.modificationTime
            let mode = entry.mode & 0o7777
            if let target = entry.hardlink {
                try writer.append(TarWriter.Entry(path: entry.name, kind: .hardlink(target: target), mode: mode, modificationTime: time))
            } else if entry.type == construir_ae_ifdir() {
                try writer.append(TarWriter.Entry(path: entry.name, kind: .directory, mode: mode, modificationTime: time))
            } else if entry.type == construir_ae_iflnk(), let target = entry.symlink {
                try writer.append(TarWriter.Entry(path: entry.name, kind: .symlink(target: target), mode: mode, modificationTime: time))
            } else if isJobOutput(entry) {
                replaced += try copyRedacted(entry, through: scratch, into: writer, secrets: secrets)
            } else if entry.type == construir_ae_ifreg() {
                try writer.append(TarWriter.Entry(path: entry.name, kind: .file(size: entry.size), mode: mode, modificationTime: time))
                var failure: ConstruirError?
                try entry.streamData { bytes in
                    guard failure == nil else { return }
                    do throws(ConstruirError) { try writer.writeData(bytes) } catch { failure = error }
                }
                if let failure { throw failure }
            }
            // Anything else was refused by the extraction already; it is not carried over.
        }
        _ = try reader.finish()
        try writer.finish()
        do { try FileSystem.renameReplacing(temporary, archive) } catch {
            throw ConstruirError(.system, "cannot replace \(archive): \(error)")
        }
        return replaced
    }

    /// One job_output.txt entry, redacted into `scratch` (its size must be known before its
    /// header), then into the archive.
    private static func copyRedacted(_ entry: TarWalk.Entry, through scratch: String, into writer: JobImageWriter,
                                     secrets: [(name: String, value: String)]) throws(ConstruirError) -> Int {
        guard FileManager.default.createFile(atPath: scratch, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forUpdatingAtPath: scratch) else {
            throw ConstruirError(.system, "cannot create \(scratch)")
        }
        defer { try? handle.close() }
        var redactor = SecretRedactor(secrets: secrets)
        var failure: (any Error)?
        try entry.streamData { bytes in
            guard failure == nil else { return }
            do { try handle.write(contentsOf: redactor.feed(bytes)) } catch { failure = error }
        }
        do {
            if let failure { throw failure }
            try handle.write(contentsOf: redactor.finish())
            let size = Int64(try handle.offset())
            try writer.append(TarWriter.Entry(path: entry.name, kind: .file(size: size), mode: entry.mode & 0o7777,
                                              modificationTime: entry.modificationTime))
            try handle.seek(toOffset: 0)
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try writer.writeData(Array(chunk))
            }
        } catch let error as ConstruirError {
            throw error
        } catch {
            throw ConstruirError(.system, "cannot redact job_output.txt in the output archive: \(error)")
        }
        return redactor.replacements
    }
}
