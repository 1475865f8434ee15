import ConstruirSystem
import Foundation

/// A job's console log, as the runner bounds it.
enum ConsoleLog {
    /// Cuts a console log that went over `cap` so that it holds `cap` bytes at most, its last
    /// line saying so. At most: a hub takes a console of up to the same `--max-console`, and
    /// one a few bytes over would fail the job's hold there. Blocking.
    static func cap(_ path: String, at cap: Int64) {
        guard let size = try? FileSystem.size(of: path), size > cap else { return }
        let note = Data("\n[construir: console log cut at \(cap) bytes; the guest wrote at least \(size)]\n".utf8)
        guard truncate(path, off_t(max(0, cap - Int64(note.count)))) == 0, let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: note.prefix(Int(cap)))
    }
}
