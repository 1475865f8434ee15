import Foundation
import Testing
@testable import JobModel

/// result.json's dates: written with milliseconds in UTC, read in any RFC 3339 form a runner
/// may send (the hub's API description says `format: date-time`), and nothing else.
@Suite struct JobResultTimestampTests {
    @Test func whatIsWrittenIsReadBack() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.125)
        let text = JobResult.timestamp(date)
        #expect(text == "2027-01-15T08:00:00.125Z")
        #expect(JobResult.parseTimestamp(text) == date)
    }

    @Test(arguments: [
        ("2027-01-15T08:00:00Z", 1_800_000_000.0),
        ("2027-01-15T10:00:00+02:00", 1_800_000_000.0),
        ("2027-01-15T08:00:00.5Z", 1_800_000_000.5),
        ("2027-01-15T05:00:00.250-03:00", 1_800_000_000.25),
    ])
    func otherRFC3339FormsAreRead(text: String, seconds: Double) throws {
        let date = try #require(JobResult.parseTimestamp(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.001)
    }

    @Test(arguments: ["", "yesterday", "2027-01-15", "2027-01-15 08:00:00", "2027-13-15T08:00:00Z"])
    func somethingElseIsNot(text: String) {
        #expect(JobResult.parseTimestamp(text) == nil)
    }
}
