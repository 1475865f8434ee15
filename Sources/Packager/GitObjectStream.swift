import ConstruirSystem
import Foundation

/// Streams the contents of many git objects, in a given order, from one
/// `git cat-file --batch --buffer` process: one child for a whole tree, no checkout, no
/// per-file processes, and contents are never held in memory whole.
///
/// The object ids are written to git's standard input from a background thread while the
/// caller reads the answers, so neither pipe can fill up and block the other side.
final class GitObjectStream {
    private let repository: GitRepository
    private let child: ChildProcess
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var remaining: [String]
    private var position = 0

    /// Starts git and queues the requests for `objects` (in the order they will be read).
    init(repository: GitRepository, objects: [String]) throws(ConstruirError) {
        self.repository = repository
        self.remaining = objects
        var requests = Data()
        requests.reserveCapacity(objects.count * 41)
        for object in objects { requests.append(contentsOf: Array(object.utf8) + [UInt8(ascii: "\n")]) }
        child = try Git.start(["--git-dir=\(repository.gitDirectory)", "cat-file", "--batch", "--buffer"],
                              in: repository.gitDirectory, input: requests)
        buffer = .allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit {
        buffer.deallocate()
    }

    /// Reads the next object, which must be `object`: calls `header` with its size, then `body`
    /// with its contents in order, in pieces.
    func next(_ object: String, header: (Int64) throws(ConstruirError) -> Void,
              body: (UnsafeRawBufferPointer) throws(ConstruirError) -> Void) throws(ConstruirError) {
        guard position < remaining.count, remaining[position] == object else {
            throw ConstruirError(.internalError, "git object \(object) read out of order")
        }
        position += 1
        // "<oid> <type> <size>\n<contents>\n" or "<oid> missing\n"
        let line = try readLine()
        let fields = line.split(separator: " ")
        if fields.count == 2 && fields[1] == "missing" {
            throw ConstruirError(.notFound, "git object \(object) is missing from \(repository.location) (a shallow or partial clone?)")
        }
        guard fields.count == 3, fields[0] == object, fields[1] == "blob", let size = Int64(fields[2]), size >= 0 else {
            throw ConstruirError(.internalError, "unexpected answer from git cat-file for \(object): '\(line)'")
        }
        try header(size)
        var left = size
        while left > 0 {
            if start == end { try fill() }
            let n = Int(min(Int64(end - start), left))
            try body(UnsafeRawBufferPointer(rebasing: buffer[start..<(start + n)]))
            start += n
            left -= Int64(n)
        }
        if start == end { try fill() }
        guard buffer[start] == UInt8(ascii: "\n") else {
            throw ConstruirError(.internalError, "git cat-file output for \(object) does not end with a newline")
        }
        start += 1
    }

    /// Checks that git answered everything and exited cleanly.
    func finish() throws(ConstruirError) {
        guard position == remaining.count else {
            throw ConstruirError(.internalError, "git objects left unread")
        }
        guard start == end, try child.read(into: buffer) == 0 else {
            throw ConstruirError(.internalError, "git cat-file wrote more than was asked for")
        }
        guard child.wait() == .exited(0) else {
            throw ConstruirError(.system, "git cat-file failed in \(repository.location): \(Git.summary(child.errorOutput))")
        }
    }

    /// Stops git early (after an error elsewhere).
    func cancel() {
        child.terminate()
    }

    private func readLine() throws(ConstruirError) -> String {
        var line: [UInt8] = []
        while true {
            if start == end { try fill() }
            let window = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if let newline = window.firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: window[..<newline])
                start += newline + 1
                return String(decoding: line, as: UTF8.self)
            }
            line.append(contentsOf: window)
            start = end
            if line.count > 4096 {
                throw ConstruirError(.internalError, "git cat-file printed an overlong header line")
            }
        }
    }

    private func fill() throws(ConstruirError) {
        start = 0
        end = try child.read(into: buffer)
        if end == 0 {
            let detail = child.wait() == .exited(0) ? "its output ended early" : Git.summary(child.errorOutput)
            throw ConstruirError(.system, "git cat-file failed in \(repository.location): \(detail)")
        }
    }
}
