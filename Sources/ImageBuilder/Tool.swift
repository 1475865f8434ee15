import ConstruirSystem
import Foundation

/// Runs the programs an image build is made of (mmdebstrap, mksquashfs, the initramfs script, ...),
/// passing each line they print to a callback. Standard output and standard error are merged.
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ConstruirError(.system, "cannot start \(program)", cause: error)
        }
        // Close our copy of the write end, so that reading ends when the child exits.
        try? pipe.fileHandleForWriting.close()
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
        let reader = pipe.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let end = pending.firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
                emit(pending[pending.startIndex..<end])
                pending.removeSubrange(pending.startIndex...end)
            }
        }
        if !pending.isEmpty { emit(pending) }
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)"
                                                         : "was killed by signal \(process.terminationStatus)"
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
