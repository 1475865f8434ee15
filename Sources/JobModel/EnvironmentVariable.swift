import ConstruirSystem

/// One variable the job's wrapper exports in the guest.
package struct EnvironmentVariable: Sendable, Equatable, CustomStringConvertible {
    package let name: String
    package let value: String

    /// - Throws: `.invalidArgument` unless `name` is a shell identifier (`[A-Za-z_][A-Za-z0-9_]*`)
    ///   and `value` has no NUL byte (a shell cannot hold one).
    package init(name: String, value: String) throws(ConstruirError) {
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
    package init(parsing assignment: String) throws(ConstruirError) {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw ConstruirError(.invalidArgument, "'\(assignment)' is not KEY=VALUE")
        }
        try self.init(name: String(assignment[..<equals]), value: String(assignment[assignment.index(after: equals)...]))
    }

    /// Whether `name` is a shell identifier: the one rule for variable names, in the packager's
    /// `--env` and in a job manifest's `environment`.
    package static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII,
              first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    /// `export NAME='VALUE'`.
    package var exportLine: String { Self.exportLine(name, value) }

    /// `export NAME='VALUE'`, the value quoted by `ShellQuote`, so it is never interpreted.
    package static func exportLine(_ name: String, _ value: String) -> String {
        "export \(name)=\(ShellQuote.quote(value))"
    }

    /// A file the guest agent hands the job through `BASH_ENV` (the config and secrets disks):
    /// an export line for each variable, then `unset BASH_ENV`, so that the job's own bash
    /// children do not read it again.
    package static func bashEnvironmentFile(_ variables: [(name: String, value: String)]) -> String {
        variables.map { exportLine($0.name, $0.value) + "\n" }.joined() + "unset BASH_ENV\n"
    }

    package var description: String { "\(name)=\(value)" }
}
