import ConstruirSystem
import Foundation

/// Runs git for the packager, through the one child-process helper (`ChildProcess`): its output
/// is read straight into the caller's buffer, its error output collected for messages.
package enum Git {
    /// Environment variables that would make git look at another repository than the one named
    /// on its command line (set, for example, when construir is run from a git hook).
    static let strippedEnvironment: Set<String> = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_CEILING_DIRECTORIES",
    ]

    /// Starts `git ARGUMENTS` in `directory`. With `input`, the bytes are written to its standard
    /// input (then closed) from a thread of its own; without, standard input is /dev/null.
    /// `setting` is set in git's environment after the stripping (a temporary index, say).
    package static func start(_ arguments: [String], in directory: String? = nil, input: Data? = nil,
                      setting: [String: String] = [:]) throws(ConstruirError) -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment.filter { !strippedEnvironment.contains($0.key) }
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_OPTIONAL_LOCKS"] = "0"
        environment.merge(setting) { $1 }
        do {
            return try ChildProcess(["git"] + arguments, environment: environment, directory: directory,
                                    input: input.map { .bytes($0) } ?? .null, output: .pipe, error: .collected)
        } catch {
            throw ConstruirError(.system, "cannot run git (is it installed and on PATH?)", cause: error)
        }
    }

    /// Runs `git ARGUMENTS` to completion and returns its standard output; throws with git's
    /// own message if it exits non-zero.
    package static func run(_ arguments: [String], in directory: String? = nil, input: Data? = nil, setting: [String: String] = [:],
                    failure: (String) -> ConstruirError) throws(ConstruirError) -> [UInt8] {
        let (output, status, stderr) = try complete(arguments, in: directory, input: input, setting: setting)
        guard status == 0 else { throw failure(summary(stderr)) }
        return output
    }

    /// Like `run`, but a non-zero exit gives nil (for questions git answers with its status).
    package static func output(_ arguments: [String], in directory: String? = nil) throws(ConstruirError) -> [UInt8]? {
        let (output, status, _) = try complete(arguments, in: directory)
        return status == 0 ? output : nil
    }

    /// Runs git to its end: all of its standard output, its exit status and its error output.
    /// A failed read terminates it rather than leaving it blocked on a full pipe.
    private static func complete(_ arguments: [String], in directory: String?, input: Data? = nil, setting: [String: String] = [:])
        throws(ConstruirError) -> (output: [UInt8], status: Int32, stderr: String) {
        let child = try start(arguments, in: directory, input: input, setting: setting)
        let output: [UInt8]
        do {
            output = try child.readAll()
        } catch {
            child.terminate()
            throw error
        }
        let status = child.wait().status
        return (output, status, child.errorOutput)
    }

    /// git's error output made into one line for a message.
    package static func summary(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("hint:") }
        let text = lines.prefix(3).joined(separator: "; ")
        return text.isEmpty ? "git failed" : text
    }
}
