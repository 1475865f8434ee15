import Foundation
import Testing
import TestSupport
@testable import JobModel

@Suite struct ShellQuoteTests {
    @Test func quoting() {
        #expect(ShellQuote.quote("plain") == "'plain'")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("it's") == #"'it'\''s'"#)
    }

    /// bash reads every quoted word back as exactly the text, whatever it holds.
    @Test func bashExpandsAQuotedWordToTheText() async throws {
        let hostile = ["plain", "", "it's", "''", "$(touch pwned)", "`id`", "${HOME}", "a\\b", "\"q\"", "!x", "a\nb", "é ü", " lead", "*"]
        let script = hostile.map { "printf '%s\\0' \(ShellQuote.quote($0))" }.joined(separator: "\n")
        let (status, output) = try await runTool(["bash", "-c", script])
        #expect(status == 0)
        #expect(output.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init) == hostile)
    }
}
