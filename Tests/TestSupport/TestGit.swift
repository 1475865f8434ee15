/// git with a fixed identity and no user or system configuration, so that tests' commits do
/// not depend on the machine; throws if git fails.
@discardableResult
package func gitForTests(_ arguments: [String], in directory: String, extraEnvironment: [String: String] = [:]) async throws -> String {
    let environment = [
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
    ].merging(extraEnvironment) { $1 }
    let (status, output) = try await runTool(["git", "-c", "init.defaultBranch=main"] + arguments, in: directory, environment: environment)
    guard status == 0 else { throw TestSetupError("git \(arguments.joined(separator: " ")) failed in \(directory) (\(status))") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A step of a test's set-up that failed (a tool that exited non-zero).
package struct TestSetupError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
