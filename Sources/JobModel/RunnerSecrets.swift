import ConstruirSystem
import Yams

/// The values a runner gives the jobs that ask for them by name (`secrets:` in job/construir.yml),
/// from its secrets file (`run --secrets FILE`), a YAML mapping of `NAME: value`:
///
/// ```yaml
/// DEPLOY_TOKEN: 3f9a…
/// SIGNING_KEY: |
///   -----BEGIN PRIVATE KEY-----
///   …
/// ```
///
/// The file is read only when it is private to this user (`PrivateFile`). A value reaches the
/// guest on a disk of its own, never the job file or the runner's records, and is replaced by
/// `[secret NAME]` in the console log and job_output.txt (`SecretRedactor`). Its description
/// names the secrets, never their values, so that logging it leaks nothing.
package struct RunnerSecrets: Sendable, CustomStringConvertible {
    private let values: [String: String]

    /// Shorter values would turn up in ordinary output, and their redaction would garble it.
    package static let minimumValueBytes = 6
    package static let maxFileBytes = 1 << 20

    package init(_ values: [String: String]) throws(ConstruirError) {
        for (name, value) in values {
            guard EnvironmentVariable.isIdentifier(name) else {
                throw ConstruirError(.invalidArgument, "'\(name)' is not a secret name (letters, digits and _, not starting with a digit)")
            }
            guard value.utf8.count >= Self.minimumValueBytes else {
                throw ConstruirError(.invalidArgument, "the secret \(name) is shorter than \(Self.minimumValueBytes) bytes: too short to be told apart from ordinary output")
            }
            guard !value.utf8.contains(0) else { throw ConstruirError(.invalidArgument, "the secret \(name) contains a NUL byte") }
        }
        self.values = values
    }

    /// Reads and checks the secrets file at `path`. Blocking.
    package static func load(_ path: String) throws(ConstruirError) -> RunnerSecrets {
        let bytes = try PrivateFile.read(path, what: "the secrets file", maxBytes: maxFileBytes)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConstruirError(.invalidArgument, "the secrets file \(path) is not UTF-8 text")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            // Yams's message quotes the line it failed on, which may be a value: say where only.
            throw ConstruirError(.invalidArgument, "the secrets file \(path) is not valid YAML\(Self.location(of: error))")
        }
        guard let node else { return try RunnerSecrets([:]) }
        guard let mapping = node.mapping else { throw ConstruirError(.invalidArgument, "the secrets file \(path) must be a mapping of NAME: value") }
        var values: [String: String] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw ConstruirError(.invalidArgument, "the secrets file \(path) has a name that is not text") }
            guard let text = value.scalar?.string else {
                throw ConstruirError(.invalidArgument, "the secret \(name) in \(path) must be a single value")
            }
            guard values.updateValue(text, forKey: name) == nil else {
                throw ConstruirError(.invalidArgument, "the secret \(name) is given twice in \(path)")
            }
        }
        do { return try RunnerSecrets(values) } catch {
            throw ConstruirError(error.code, "the secrets file \(path): \(error.message)")
        }
    }

    package var names: [String] { values.keys.sorted() }

    /// The names in `wanted` that this runner has no value for.
    package func missing(_ wanted: [String]) -> [String] {
        wanted.filter { values[$0] == nil }
    }

    /// The (name, value) pairs of `names`, in their order; names without a value are left out.
    package func pairs(_ names: [String]) -> [(name: String, value: String)] {
        names.compactMap { name in values[name].map { (name, $0) } }
    }

    /// The script the guest agent adds to the job's environment (`BASH_ENV`): an `export` line
    /// for each of `names`.
    package func script(_ names: [String]) -> String {
        EnvironmentVariable.bashEnvironmentFile(pairs(names))
    }

    package var description: String { "secrets(\(names.joined(separator: ", ")))" }

    private static func location(of error: any Error) -> String {
        switch error as? YamlError {
        case .scanner(_, _, let mark, _)?, .parser(_, _, let mark, _)?: return " (line \(mark.line))"
        default: return ""
        }
    }
}
