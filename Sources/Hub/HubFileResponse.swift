import HubAPI
import OpenAPIRuntime

/// A file served from disk: whole, or with `Range: bytes=FIRST-[LAST]` in part (206), or 416
/// when FIRST is at or past its end. The body is read in chunks on NIO's thread pool as the
/// client takes it; the file stays open until the body is dropped.
enum HubFileResponse {
    case whole(HTTPBody)
    case part(HTTPBody, contentRange: String)
    case unsatisfiable(contentRange: String)

    static func make(path: String, range header: String?) async throws -> HubFileResponse {
        let file = try await PooledFile(path: path, writing: false)
        let size = try await file.size()
        guard let range = ByteRange(header: header) else { return .whole(body(file, from: 0, to: size)) }
        guard range.first < size else { return .unsatisfiable(contentRange: "bytes */\(size)") }
        let last = min(range.last ?? size - 1, size - 1)
        return .part(body(file, from: range.first, to: last + 1), contentRange: "bytes \(range.first)-\(last)/\(size)")
    }

    private static func body(_ file: PooledFile, from offset: Int64, to end: Int64) -> HTTPBody {
        HTTPBody(file.chunks(from: offset, to: end).map { ArraySlice($0.readableBytesView) }, length: .known(end - offset),
                 iterationBehavior: .single)
    }
}
