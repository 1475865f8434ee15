import ConstruirSystem

/// One variable the job's wrapper exports in the guest.
public struct EnvironmentVariable: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let value: String

    /// - Throws: `.invalidArgument` unless `name` is a shell identifier (`[A-Za-z_][A-Za-z0-9_]*`)
    ///   and `value` has no NUL byte (a shell cannot hold one).
    public init(name: String, value: String) throws(ConstruirError) {
        guard Self.isIdentifier(name) else {
            throw ConstruirError(.invalidArgument, "'\(name)' is not a valid environment variable name (letters, digits and _, not starting with a digit)")
        }
        guard !value.utf8.contains(0) else {
            throw ConstruirError(.invalidArgument, "the value of \(name) contains a NUL byte")
        }
        self.name = name
        self.value = value
    }

    /// Parses `KEY=VALUE` (the value may be empty and may contain `=`).
    public init(parsing assignment: String) throws(ConstruirError) {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw ConstruirError(.invalidArgument, "'\(assignment)' is not KEY=VALUE")
        }
        try self.init(name: String(assignment[..<equals]), value: String(assignment[assignment.index(after: equals)...]))
    }

    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII,
              first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    /// `export NAME='VALUE'`.
    public var exportLine: String { "export \(name)=\(ShellQuote.quote(value))" }

    public var description: String { "\(name)=\(value)" }
}

/// Quoting for bash, done here rather than by a shell.
public enum ShellQuote {
    /// `text` as one bash word that expands to exactly `text`: wrapped in single quotes, each
    /// `'` written as `'\''`. Nothing inside single quotes is special to bash (`$`, backquotes,
    /// `\`, `"`, `!` in a script, newlines), so this is equivalent to `printf %q` for any text
    /// without NUL bytes.
    public static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}

/// The layout of a job made from a git repository, compatible with bneijt/construir's git job:
///
///     repo/...           the files git tracks at the commit (no .git)
///     job/construir      the wrapper the guest runs (`bash /job/construir`)
///     job/construir.yml  only with `--image-digest`: the image the job is pinned to
///
/// The guest extracts the job at `/`, so the repository is `/repo` and the wrapper
/// `/job/construir`. The wrapper exports the environment, runs `/repo/construir` in `/repo`
/// (directly if it is executable, else with bash), then writes `/repo/artifacts` and
/// `/job_output.txt` to the output disk as a tar.xz and exits with the script's exit code.
public enum JobLayout {
    /// Where the repository's files go in the job.
    public static let repositoryDirectory = "repo"
    /// The job directory the guest runs.
    public static let jobDirectory = "job"
    /// The wrapper script, relative to the archive root.
    public static let wrapperPath = "job/construir"
    /// The script a repository must have at its root.
    public static let scriptName = "construir"
    /// Marks the lines that set the environment (tests run just those with bash).
    public static let environmentBegin = "# --- environment ---"
    public static let environmentEnd = "# --- end of environment ---"

    /// `job/construir.yml` for a job pinned to one build image (see `JobManifest` in the runner).
    public static func manifest(imageDigest: String) -> String {
        "# Written by `construir package`: run only on the build image with this digest.\nimage_digest: \(imageDigest)\n"
    }

    /// The wrapper's text. Every value is quoted by `ShellQuote`, so no value can run code.
    public static func wrapperScript(environment: [EnvironmentVariable], commit: String) -> String {
        var lines = [
            "#!/bin/bash",
            "# Written by `construir package` for commit \(commit).",
            "# Runs /repo/construir in /repo, then writes /repo/artifacts and /job_output.txt",
            "# to the output disk (/dev/sdb) as a tar.xz; exits with the script's exit code.",
            environmentBegin,
        ]
        lines += environment.map(\.exportLine)
        lines += [
            environmentEnd,
            "mkdir -p /repo/artifacts",
            "cd /repo || exit 1",
            "if [ -x ./construir ]; then",
            "    ./construir",
            "else",
            "    bash ./construir",
            "fi",
            "status=$?",
            "tar -C /repo/artifacts -cJf /dev/sdb . -C / job_output.txt",
            "tar_status=$?",
            "# 1 is GNU tar's \"a file changed as we read it\": job_output.txt grows while this runs.",
            "if [ \"$tar_status\" -gt 1 ]; then",
            "    echo \"construir: writing /repo/artifacts to the output disk failed (tar exit $tar_status)\" >&2",
            "fi",
            "exit \"$status\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
