import ConstruirSystem
import Foundation

/// Runs the programs an image build is made of (mmdebstrap, mksquashfs, the initramfs script, ...),
/// passing each line they print to a callback. Standard output and standard error are merged.
/// They run through `ChildProcess`, which starts every program construir runs.
enum Tool {
    /// Runs `arguments` (the program is looked up in PATH); throws when it cannot be started or
    /// exits non-zero, with the last lines it printed.
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                    output: (String) -> Void) throws -> [String] {
        guard let program = arguments.first else { throw ConstruirError(.invalidArgument, "no program to run") }
        guard let executable = which(program) else {
            throw ConstruirError(.notFound, "\(program) not found in PATH (scripts/install-deps installs the tools image builds need)")
        }
        let child: ChildProcess
        do {
            child = try ChildProcess([executable] + arguments.dropFirst(),
                                     environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 },
                                     directory: directory, input: .null, output: .pipe, error: .standardOutput)
        } catch {
            throw ConstruirError(.system, "cannot start \(program)", cause: error)
        }
        var lines: [String] = []
        var tail: [String] = []
        var pending = Data()
        func emit(_ bytes: Data) {
            let line = String(decoding: bytes, as: UTF8.self)
            lines.append(line)
            tail.append(line)
            if tail.count > 40 { tail.removeFirst() }
            output(line)
        }
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let count: Int
            do {
                count = try child.read(into: chunk)
            } catch {
                child.terminate()
                throw error
            }
            if count == 0 { break }
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<count]))
            while let end = pending.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                emit(pending[pending.startIndex..<end])
                pending.removeSubrange(pending.startIndex...end)
            }
        }
        if !pending.isEmpty { emit(pending) }
        let termination = child.wait()
        guard termination == .exited(0) else {
            let how = termination.description
            let shown = tail.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.suffix(15)
            throw ConstruirError(.system, "\(arguments.prefix(2).joined(separator: " ")) \(how)"
                + (shown.isEmpty ? "" : "; its last output:\n" + shown.joined(separator: "\n")))
        }
        return lines
    }

    /// The full path of `program`, searched in PATH when it has no slash.
    static func which(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for directory in (path + ":/usr/sbin:/sbin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
