import Foundation

/// Runs `body` with a fresh directory that is removed afterwards, whatever happens.
package func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    let template = "\(base)/construir-test-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// Runs a command and returns its exit status and standard output; for tests that use real
/// tools. The wait is on a Dispatch thread: a child process must not hold one of the few threads
/// of Swift's cooperative pool, which the other tests running meanwhile (and an in-process
/// server or runner that the child may talk to) need.
@discardableResult
package func runTool(_ arguments: [String], in directory: String? = nil,
                    environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runToolBlocking(arguments, in: directory, environment: environment) })
        }
    }
}

/// `runTool` waiting on the calling thread: only where nothing can wait, as in a `defer`.
@discardableResult
package func runToolBlocking(_ arguments: [String], in directory: String? = nil,
                            environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
