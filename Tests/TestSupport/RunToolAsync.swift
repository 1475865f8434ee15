import Dispatch

/// `runTool` on a Dispatch thread: waiting for a child process must not hold one of the few
/// threads of Swift's cooperative pool, which an in-process server or runner under test needs
/// to answer that very child (curl, chromium, the construir binary).
public func runToolAsync(_ arguments: [String], in directory: String? = nil,
                         environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try runTool(arguments, in: directory, environment: environment) })
        }
    }
}
