import TestSupport

/// git with a fixed author, committer and date and no user configuration, so that the
/// integration tests' repositories and commits are the same on every machine.
func testGit(_ arguments: [String], in directory: String) async throws -> String {
    let environment = [
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    ]
    let (status, output) = try await runTool(["git", "-c", "init.defaultBranch=main"] + arguments, in: directory, environment: environment)
    guard status == 0 else { throw ConstruirTestError("git \(arguments.joined(separator: " ")) failed") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
}
