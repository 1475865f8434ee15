import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// A secrets job's console log, redacted as it grows: QEMU writes the guest's serial console to
/// `raw` (private to the runner, removed with the job's disks), and this copies it into the
/// console log that `logs --follow`, a hub and done/ read, with each value replaced by
/// `[secret NAME]` (`SecretRedactor`, which also catches a value split across two reads).
final class ConsoleRedaction: Sendable {
    let raw: String
    let log: String
    private let secrets: [(name: String, value: String)]
    private let stopping = Atomic<Bool>(false)
    private let replacements = Atomic<Int>(0)

    /// How often the raw console is looked at: `logs --follow` lags the guest by about this much.
    static let interval: UInt32 = 100_000

    private init(raw: String, log: String, secrets: [(name: String, value: String)]) {
        self.raw = raw
        self.log = log
        self.secrets = secrets
    }

    /// Runs `body` (waiting for the VM and settling it) while the console is copied, then copies
    /// what is left: the guest has stopped, so nothing more arrives. Without secrets it only runs
    /// `body`. Returns `body`'s value and how many values were replaced.
    static func around<T: Sendable>(raw: String, log: String, secrets: [(name: String, value: String)],
                                    _ body: () async -> T) async -> (T, redacted: Int) {
        guard !secrets.isEmpty else { return (await body(), 0) }
        let redaction = ConsoleRedaction(raw: raw, log: log, secrets: secrets)
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await OwnThread.run("construir-redact") { redaction.copy() } }
            let value = await body()
            redaction.stopping.store(true, ordering: .releasing)
            await group.waitForAll()
            return (value, redaction.replacements.load(ordering: .acquiring))
        }
    }

    /// Copies until told to stop and the raw console has no more bytes. Blocking.
    private func copy() {
        var redactor = SecretRedactor(secrets: secrets)
        guard let output = Self.create(log) else { return }
        defer { try? output.close() }
        var input: FileHandle?
        defer { try? input?.close() }
        while true {
            let last = stopping.load(ordering: .acquiring)
            if input == nil { input = FileHandle(forReadingAtPath: raw) }
            var read = false
            while let input, let chunk = try? input.read(upToCount: 256 << 10), !chunk.isEmpty {
                try? output.write(contentsOf: redactor.feed(chunk))
                read = true
            }
            if last {
                try? output.write(contentsOf: redactor.finish())
                replacements.store(redactor.replacements, ordering: .releasing)
                return
            }
            if !read { usleep(Self.interval) }
        }
    }

    private static func create(_ path: String) -> FileHandle? {
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]) else { return nil }
        return FileHandle(forWritingAtPath: path)
    }
}
