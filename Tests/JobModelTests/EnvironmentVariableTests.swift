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
}
