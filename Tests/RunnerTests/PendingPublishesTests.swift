import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner

@Suite struct PendingPublishesTests {
    private func job(_ id: String) -> ClaimedJob {
        ClaimedJob(name: JobName(fileName: "\(id).tar.xz")!, directory: "/nonexistent/running/\(id)", queuedAt: Date())
    }

    @Test func backoffDoublesFromFiveSecondsToFiveMinutes() {
        let pending = PendingPublishes()
        #expect((1...9).map { pending.delay(afterFailures: $0) }
            == [5, 10, 20, 40, 80, 160, 300, 300, 300].map { Duration.seconds($0) })
    }

    @Test func aJobIsDueWhenItsBackoffIsOverAndForgottenWhenPublished() {
        let pending = PendingPublishes(initialDelay: .seconds(5), maxDelay: .seconds(300))
        let start = ContinuousClock.now
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        pending.failed(job("a"), result: nil, error: "full", at: start, date: date)
        pending.failed(job("b"), result: nil, error: "full", at: start + .seconds(1), date: date + 1)
        #expect(pending.count == 2)
        #expect(pending.due(at: start + .seconds(4)).isEmpty)
        #expect(pending.due(at: start + .seconds(5)).map(\.job.id) == ["a"])
        #expect(pending.due(at: start + .seconds(6)).map(\.job.id) == ["a", "b"])

        let again = pending.failed(job("a"), result: nil, error: "still full", at: start + .seconds(5), date: date + 5)
        #expect(again.failures == 2 && again.lastError == "still full")
        #expect(again.firstFailure == date)
        #expect(again.nextAttemptDate == date + 15)
        #expect(pending.due(at: start + .seconds(14)).map(\.job.id) == ["b"])
        #expect(pending.due(at: start + .seconds(15)).map(\.job.id) == ["b", "a"])

        pending.succeeded("a")
        #expect(pending.due(at: start + .seconds(600)).map(\.job.id) == ["b"])
        pending.succeeded("b")
        #expect(pending.isEmpty)
    }

    @Test func outOfSpaceIsRecognisedHoweverItIsReported() {
        #expect(DoneStore.isOutOfSpace(SystemError(call: "write", errno: ENOSPC)))
        #expect(DoneStore.isOutOfSpace(SystemError(call: "write", errno: EDQUOT)))
        #expect(DoneStore.isOutOfSpace(CocoaError(.fileWriteOutOfSpace)))
        #expect(DoneStore.isOutOfSpace(NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))))
        #expect(DoneStore.isOutOfSpace(NSError(domain: NSCocoaErrorDomain, code: 512,
                                               userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EDQUOT))])))
        #expect(!DoneStore.isOutOfSpace(SystemError(call: "write", errno: EIO)))
        #expect(!DoneStore.isOutOfSpace(CocoaError(.fileNoSuchFile)))
    }

    @Test func byteCountsNameTheUnitAndTheExactCount() {
        #expect(Units.formatBytes(512) == "512 bytes")
        #expect(Units.formatBytes(20 << 20) == "20.0 MiB (20971520 bytes)")
        #expect(Units.formatBytes(3 << 29) == "1.5 GiB (1610612736 bytes)")
    }

    @Test func theFailureRecordRoundTripsInSnakeCase() throws {
        let record = PublishFailure(error: "full", failures: 3, firstFailure: Date(timeIntervalSince1970: 1_800_000_000),
                                    nextAttempt: Date(timeIntervalSince1970: 1_800_000_040))
        let data = try record.encoded()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["error", "failures", "first_failure", "next_attempt"])
        #expect(try PublishFailure.decode(data) == record)
    }
}
