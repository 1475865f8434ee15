import Foundation
import HubAPI
import OpenAPIRuntime

/// One append to the console a runner sends while its job runs (`POST .../console?offset=N`).
/// Offsets make it resumable: bytes before the end overwrite what is there (a retried append
/// carries the same bytes), bytes past the end are not taken (the runner sends again from the
/// size it is told), and nothing past `cap` is kept.
enum HubConsoleAppend {
    /// Writes `body` at `offset` into `path` (created 0600); returns the console's size after.
    /// Throws 413 once the console reached `cap`, after keeping what fits.
    static func append(_ body: HTTPBody, to path: String, at offset: Int64, cap: Int64) async throws -> Int64 {
        let file = try await PooledFile(path: path, writing: true)
        let size = try await file.size()
        guard offset <= size else { return size }
        var at = offset
        var full = false
        for try await chunk in body {
            let room = max(0, cap - at)
            let kept = chunk.prefix(Int(min(Int64(chunk.count), room)))
            if !kept.isEmpty { try await file.write(kept, at: at) }
            at += Int64(kept.count)
            if kept.count < chunk.count {
                full = true
                break
            }
        }
        if full { throw HubHTTPError(.contentTooLarge, "the console reached the \(cap) bytes --max-console allows; send no more appends") }
        return max(size, at)
    }
}
