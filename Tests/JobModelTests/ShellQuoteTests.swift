import Testing
@testable import JobModel

@Suite struct ShellQuoteTests {
    @Test func quoting() {
        #expect(ShellQuote.quote("plain") == "'plain'")
        #expect(ShellQuote.quote("") == "''")
        #expect(ShellQuote.quote("it's") == #"'it'\''s'"#)
    }
}
