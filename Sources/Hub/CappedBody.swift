import Hummingbird

/// A request body that stops with 413 once it has brought more than `limit` bytes, so an
/// upload is refused while it streams in, before it fills a disk.
struct CappedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let limit: Int64
    /// Names what was too large in the error.
    let what: String

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let limit: Int64
        let what: String
        var received: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            received += Int64(buffer.readableBytes)
            if received > limit {
                throw HubHTTPError(.contentTooLarge, "\(what) is larger than the \(limit) bytes allowed")
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), limit: limit, what: what)
    }
}
