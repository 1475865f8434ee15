import JobModel
import Testing

/// The console log's redaction: every value is replaced wherever the reads happen to split it.
@Suite struct SecretRedactorTests {
    let secrets: [(name: String, value: String)] = [("TOKEN", "s3cr3t-t0ken"), ("KEY", "s3cr3t-t0ken-extended"), ("PIN", "987654")]

    /// `text` fed in pieces cut at `cuts`.
    private func redacted(_ text: String, cuts: [Int]) -> (String, Int) {
        var redactor = SecretRedactor(secrets: secrets)
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var start = 0
        for cut in cuts.sorted() + [bytes.count] where cut >= start {
            output += redactor.feed(bytes[start..<cut])
            start = cut
        }
        output += redactor.finish()
        return (String(decoding: output, as: UTF8.self), redactor.replacements)
    }

    @Test func everyValueIsReplacedWhereverTheReadsSplitIt() {
        let text = "token=s3cr3t-t0ken\nkey s3cr3t-t0ken-extended; pin 987654 and s3cr3t-t0ke (almost) end s3cr3t-t0ken"
        let expected = "token=[secret TOKEN]\nkey [secret KEY]; pin [secret PIN] and s3cr3t-t0ke (almost) end [secret TOKEN]"
        let whole = redacted(text, cuts: [])
        #expect(whole.0 == expected)
        #expect(whole.1 == 4)
        for cut in 0...text.utf8.count {
            #expect(redacted(text, cuts: [cut]).0 == expected, "cut at \(cut)")
        }
        // One byte at a time: the longest hold-back there is.
        #expect(redacted(text, cuts: Array(0...text.utf8.count)).0 == expected)
    }

    @Test func aTailThatOnlyBeginsAValueIsPassedOnAtTheEnd() {
        var redactor = SecretRedactor(secrets: secrets)
        #expect(redactor.feed(Array("output s3cr3t-t0".utf8)) == Array("output ".utf8), "held back: it may become a value")
        #expect(redactor.finish() == Array("s3cr3t-t0".utf8))
        // A whole shorter value inside a held tail that never became the longer one.
        var other = SecretRedactor(secrets: secrets)
        let held = other.feed(Array("x s3cr3t-t0ken-ext".utf8))
        #expect(String(decoding: held + other.finish(), as: UTF8.self) == "x [secret TOKEN]-ext")
    }

    @Test func withoutSecretsBytesPassUntouched() {
        var redactor = SecretRedactor(secrets: [])
        #expect(redactor.isEmpty)
        #expect(redactor.feed(Array("s3cr3t-t0ken".utf8)) == Array("s3cr3t-t0ken".utf8))
        #expect(redactor.finish().isEmpty)
        #expect(SecretRedactor.redact(Array("a 987654 b".utf8), secrets: secrets) == Array("a [secret PIN] b".utf8))
    }
}
