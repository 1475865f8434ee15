import ConstruirSystem
import Testing
@testable import JobModel

@Suite struct EnvironmentVariableTests {
    private func expectInvalid(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = #expect(throws: ConstruirError.self, sourceLocation: sourceLocation) { try body() }
        #expect(error?.code == .invalidArgument, "\(String(describing: error))", sourceLocation: sourceLocation)
    }

    @Test func variableNamesMustBeShellIdentifiers() throws {
        for bad in ["1X", "A-B", "", "A B", "Ä", "X$", "=v"] {
            expectInvalid { _ = try EnvironmentVariable(parsing: "\(bad)=v") }
        }
        expectInvalid { _ = try EnvironmentVariable(parsing: "NOEQUALS") }
        expectInvalid { _ = try EnvironmentVariable(name: "X", value: "a\0b") }
        #expect(try EnvironmentVariable(parsing: "_x9=").value == "")
        #expect(try EnvironmentVariable(parsing: "Path_2=/a=b").value == "/a=b")
    }

    /// One identifier rule: `construir package --env` and a manifest's `environment` accept the
    /// same names.
    @Test(arguments: ["A", "_", "_x9", "Path_2", "MODE", "1X", "9", "A-B", "A.B", "Ä", "é", "X$", "a b"])
    func theManifestAcceptsExactlyTheIdentifiersThePackagerDoes(name: String) {
        let packager = (try? EnvironmentVariable(name: name, value: "v")) != nil
        #expect(packager == EnvironmentVariable.isIdentifier(name))
        let manifest = (try? JobManifest.parse(Array("environment:\n  \"\(name)\": v\n".utf8))) != nil
        #expect(manifest == packager, "\(name)")
    }

    /// The guest's environment file and the packager's wrapper export a variable the same way.
    @Test func theManifestScriptUsesThePackagersExportLines() throws {
        let values = [("MODE", "release"), ("QUOTE", "it's $HOME `x`"), ("EMPTY", ""), ("LINES", "a\nb")]
        let manifest = JobManifest(environment: values)
        let lines = try values.map { try EnvironmentVariable(name: $0.0, value: $0.1).exportLine }
        #expect(manifest.environmentScript == lines.map { $0 + "\n" }.joined() + "unset BASH_ENV\n")
    }
}
