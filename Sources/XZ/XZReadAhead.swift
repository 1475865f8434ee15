import Glibc
import ConstruirSystem
import Dispatch
import Synchronization

/// Decodes an `XZStreamReader`'s stream on a thread of its own, a few chunks ahead of the
/// thread that consumes it.
///
/// Why it exists: xz decoding and what is done with its output (libarchive parsing the tar and
/// writing files) each take about half of an extraction. `tar -xJf` overlaps them by running
/// `xz -d` as a second process; this does the same inside one process, with bounded memory:
/// `chunkCount` buffers of `chunkSize` bytes circulate between the decoder thread and the
/// consumer, and the decoder waits whenever all of them are full.
///
/// Ownership: from `init` until `stop()` returns, the reader belongs to the decoder thread and
/// must not be touched; afterwards it is the caller's again, positioned after the last chunk
/// decoded (chunks decoded but not consumed are dropped, as `XZStreamReader.finish()` drops
/// what it decodes). The reader's limits, errors and trimmed copy work exactly as without this
/// type, because the reader itself does all the decoding.
///
/// Threads: `stop()` (also called by `deinit`) stops the decoder and joins it, so no thread
/// outlives this object. A decoder error ends the thread at once and reaches the consumer, in
/// stream order, from `next()`. The consumer uses one thread at a time.
package final class XZReadAhead {
    /// The file the reader decodes.
    package let path: String
    private let shared: Shared
    private let chunkSize: Int
    private var thread: pthread_t?
    /// The chunk `next()` last returned; it goes back to the decoder on the next call.
    private var lent: Chunk?
    /// What the stream ended with, returned again by later calls to `next()`.
    private var terminal: Result<Void, ConstruirError>?

    /// Starts decoding `reader` on a new thread.
    ///
    /// - Parameters:
    ///   - chunkSize: bytes per buffer; the decoder fills each one before handing it over.
    ///   - chunkCount: buffers in flight; at most `chunkSize × chunkCount` decoded bytes wait.
    /// - Throws: `.system` if the thread cannot be created (the reader is then untouched).
    package init(_ reader: XZStreamReader, chunkSize: Int = 1 << 20, chunkCount: Int = 4) throws(ConstruirError) {
        precondition(chunkSize > 0 && chunkCount > 0, "XZReadAhead needs at least one non-empty chunk")
        self.path = reader.path
        self.chunkSize = chunkSize
        self.shared = Shared(chunkCount: chunkCount)
        let decoder = Decoder(reader: reader, shared: shared, chunks: (0..<chunkCount).map { _ in
            Chunk(buffer: .allocate(byteCount: chunkSize, alignment: 16), count: 0)
        })
        let context = Unmanaged.passRetained(decoder).toOpaque()
        var created = pthread_t()
        let status = pthread_create(&created, nil, { context in
            let decoder = Unmanaged<Decoder>.fromOpaque(context!).takeRetainedValue()
            decoder.run()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Decoder>.fromOpaque(context).release()
            throw ConstruirError(.system, "cannot start the xz decoder thread for \(path)",
                                 cause: SystemError(call: "pthread_create", errno: status, path: path))
        }
        thread = created
        Self.live.withLock { $0[ObjectIdentifier(self)] = path }
    }

    deinit {
        stop()
        // The decoder has ended, so every chunk is back in `free` or `ready` (or lent).
        let chunks = shared.state.withLock { state in state.free + state.ready.compactMap(\.chunk) } + (lent.map { [$0] } ?? [])
        for chunk in chunks { chunk.buffer.deallocate() }
    }

    /// The next decoded bytes, in stream order; valid until the next call to `next()` or
    /// `stop()`. Empty at the end of the stream (and on every call after it).
    ///
    /// - Throws: the reader's error (`.limitExceeded`, `.xz`, `.system`) once the consumer has
    ///   received everything decoded before it; the same error on every later call.
    package func next() throws(ConstruirError) -> UnsafeRawBufferPointer {
        if let lent {
            self.lent = nil
            shared.state.withLock { $0.free.append(lent) }
            shared.slots.signal()
        }
        if let terminal { try terminal.get(); return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard thread != nil else {
            throw ConstruirError(.internalError, "XZReadAhead.next() after stop()")
        }
        shared.items.wait()
        let item = shared.state.withLock { $0.ready.removeFirst() }
        switch item {
        case .data(let chunk):
            lent = chunk
            return UnsafeRawBufferPointer(rebasing: chunk.buffer[..<chunk.count])
        case .end:
            terminal = .success(())
            return UnsafeRawBufferPointer(start: nil, count: 0)
        case .failure(let error):
            terminal = .failure(error)
            throw error
        }
    }

    /// Stops the decoder thread and waits until it has ended; the reader is the caller's again.
    /// A decoder in the middle of a chunk finishes that chunk first. Calling it again does nothing.
    package func stop() {
        guard let thread else { return }
        shared.state.withLock { $0.stopping = true }
        shared.slots.signal()  // wakes a decoder waiting for a free chunk
        pthread_join(thread, nil)
        self.thread = nil
        _ = Self.live.withLock { $0.removeValue(forKey: ObjectIdentifier(self)) }
    }

    /// The decoder thread's kernel thread id (`/proc/self/task/TID`), once it has started; for
    /// diagnostics and tests.
    package var threadID: pid_t? { shared.state.withLock { $0.threadID } }

    /// The files being decoded ahead right now, one entry per running decoder thread. For
    /// diagnostics and tests: a decoder thread must never outlive the call that started it.
    package static func running() -> [String] {
        live.withLock { Array($0.values) }
    }

    private static let live = Mutex<[ObjectIdentifier: String]>([:])
}

/// One buffer and how many of its bytes hold decoded data. Only one thread owns a chunk at a
/// time; it changes hands under `Shared.state`'s lock.
private struct Chunk: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    var count: Int
}

/// What the decoder hands over: a full (or final, partial) chunk, the end, or an error.
private enum Item: Sendable {
    case data(Chunk)
    case end
    case failure(ConstruirError)

    var chunk: Chunk? {
        if case .data(let chunk) = self { return chunk }
        return nil
    }
}

/// The bounded queue between the two threads: `slots` counts free chunks (plus wake-ups for a
/// stop), `items` counts items in `ready`.
private final class Shared: Sendable {
    struct State {
        var free: [Chunk] = []
        var ready: [Item] = []
        var stopping = false
        var threadID: pid_t?
    }

    let state = Mutex(State())
    // Both start at 0: libdispatch traps when a semaphore is freed with a count below the one
    // it was created with, which `slots` would be whenever chunks are still out.
    let slots = DispatchSemaphore(value: 0)
    let items = DispatchSemaphore(value: 0)

    init(chunkCount: Int) {
        for _ in 0..<chunkCount { slots.signal() }
    }
}

/// The decoder thread's side: it alone uses the reader while it runs.
private final class Decoder {
    let reader: XZStreamReader
    let shared: Shared

    init(reader: XZStreamReader, shared: Shared, chunks: [Chunk]) {
        self.reader = reader
        self.shared = shared
        shared.state.withLock { $0.free = chunks }
    }

    func run() {
        let tid = currentThreadID()
        shared.state.withLock { $0.threadID = tid }
        while true {
            shared.slots.wait()
            guard var chunk = shared.state.withLock({ $0.stopping ? nil : $0.free.popLast() }) else { return }
            let item: Item
            do {
                chunk.count = try fill(chunk.buffer)
                item = chunk.count > 0 ? .data(chunk) : .end
                if chunk.count == 0 { shared.state.withLock { $0.free.append(chunk) } }
            } catch {
                shared.state.withLock { $0.free.append(chunk) }
                item = .failure(error)
            }
            shared.state.withLock { $0.ready.append(item) }
            shared.items.signal()
            guard case .data = item else { return }
        }
    }

    /// Fills `buffer` completely, or up to the end of the stream; 0 only at the end.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(ConstruirError) -> Int {
        var filled = 0
        while filled < buffer.count {
            let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}
