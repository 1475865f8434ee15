import Foundation
import Testing
import TestSupport
@testable import Hub
import HubAPI
import JobModel

/// The hub's small parts, without a server: long-poll wake-ups, Range headers, the token cache.
/// A waiter that should wake waits an hour otherwise: the time limit fails it instead of a
/// timed expectation, which the full suite's load would make flaky.
@Suite(.timeLimit(.minutes(1))) struct HubServerPartsTests {
    @Test func aWaiterWakesOnNotifyAndNotBefore() async throws {
        let waiters = HubWaiters()
        let seen = waiters.generation
        async let waited: Void = waiters.wait(after: seen, timeout: .seconds(3600))
        while waiters.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(waiters.count == 1)
        waiters.notify()
        await waited
        #expect(waiters.count == 0)
    }

    @Test func aNotifyBetweenLookingAndWaitingIsNotLost() async {
        let waiters = HubWaiters()
        let seen = waiters.generation
        waiters.notify()  // work arrived after the waiter looked, before it waited
        await waiters.wait(after: seen, timeout: .seconds(3600))
        #expect(waiters.count == 0)
    }

    @Test func aWaiterEndsAtItsTimeoutOrWhenCancelled() async {
        let waiters = HubWaiters()
        let start = ContinuousClock.now
        await waiters.wait(after: waiters.generation, timeout: .milliseconds(200))
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(waiters.count == 0)
        let task = Task { await waiters.wait(after: waiters.generation, timeout: .seconds(3600)) }
        while waiters.count == 0 { try? await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        await task.value
        #expect(waiters.count == 0)
    }

    @Test func closingReleasesEveryWaiterAndLaterOnesDoNotWait() async throws {
        let waiters = HubWaiters()
        async let waited: Void = waiters.wait(after: waiters.generation, timeout: .seconds(3600))
        while waiters.count == 0 { try await Task.sleep(for: .milliseconds(5)) }
        waiters.close()
        await waited
        await waiters.wait(after: waiters.generation, timeout: .seconds(3600))
        #expect(waiters.isClosed)
    }

    @Test func rangeHeaders() {
        #expect(ByteRange(header: "bytes=100-").map { [$0.first, $0.last] } == [100, nil])
        #expect(ByteRange(header: "bytes=0-99").map { [$0.first, $0.last] } == [0, 99])
        for refused in [nil, "", "bytes=-5", "bytes=9-3", "bytes=1-2,4-5", "items=1-", "bytes=x-"] {
            #expect(ByteRange(header: refused) == nil, "\(refused ?? "nil")")
        }
    }

    @Test func theAuthenticatorSeesAddedAndRevokedTokensAfterAReload() async throws {
        try await withTemporaryDirectory { dir in
            let store = HubTokenStore(path: "\(dir)/tokens.json")
            let secret = try store.add(name: "a", role: .runner)
            let authenticator = try HubAuthenticator(store: store)
            #expect(authenticator.authenticate(authorization: nil) == .missing)
            #expect(authenticator.authenticate(authorization: "Basic eDp5") == .missing)
            #expect(authenticator.authenticate(authorization: "Bearer nope") == .refused)
            guard case .token(let token) = authenticator.authenticate(authorization: "Bearer \(secret)") else {
                Issue.record("the token was not accepted")
                return
            }
            #expect(token.name == "a" && token.role == .runner)
            let second = try store.add(name: "b", role: .submitter)
            #expect(authenticator.authenticate(authorization: "Bearer \(second)") == .refused)
            try authenticator.reloadIfChanged()
            #expect(authenticator.authenticate(authorization: "bearer \(second)") != .refused)
            try store.revoke(name: "a")
            try authenticator.reloadIfChanged()
            #expect(authenticator.authenticate(authorization: "Bearer \(secret)") == .refused)
        }
    }

    @Test func metricsNameEachRunnerAndEscapeTheirNames() {
        let now = Date()
        let status = HubStatus(queued: 2, runners: [.init(name: "x\"y", lastSeen: now.addingTimeInterval(-3), running: ["l1"], jobsDone: 4, reputation: .init())],
                               leases: [.init(id: "l1", job: "j_i0.tar.xz", holder: "x\"y", attempt: 1, expires: now, replicas: 1, results: 0),
                                        .init(id: "l2", job: "k_i0.tar.xz", holder: nil, attempt: 1, expires: nil, replicas: 1, results: 0)],
                               finished: 5)
        let text = HubPage.metrics(status, waiting: 7, now: now)
        // A series' value, whichever way the exposition writes numbers (a gauge's 2 is 2.0).
        func value(_ series: String) -> Double? {
            text.split(separator: "\n").first { $0.hasPrefix("\(series) ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
        }
        #expect(value("construir_hub_queued_jobs") == 2)
        #expect(value("construir_hub_leases{state=\"held\"}") == 1)
        #expect(value("construir_hub_leases{state=\"waiting\"}") == 1)
        #expect(value("construir_hub_finished_jobs_total") == 5)
        #expect(value("construir_hub_waiting_polls") == 7)
        #expect(value("construir_hub_runners") == 1)
        #expect(value("construir_hub_runner_jobs_done_total{runner=\"x\\\"y\"}") == 4)
        #expect(value("construir_hub_runner_results_total{runner=\"x\\\"y\",outcome=\"agreed\"}") == 0)
        #expect(value("construir_hub_runner_last_seen_seconds{runner=\"x\\\"y\"}") == 3)
        #expect(text.contains("# TYPE construir_hub_finished_jobs_total counter\n"))
        #expect(text.contains("# TYPE construir_hub_runner_last_seen_seconds gauge\n"))
        #expect(!text.contains("runner=\"x\"y\""), "a runner's name must be escaped")
        let page = HubPage.html(status, now: now)
        #expect(page.contains("x&quot;y") && !page.contains("x\"y"))
    }

    @Test func aClaimRequestIsDecodedAsTheDescriptionSays() throws {
        let empty = try HubJSON.decode(HubClaimRequest.self, from: Data("{}".utf8))
        #expect(empty.defaultImageIndex == 0 && empty.digest(ofImage: 0) == nil)
        let named = try HubJSON.decode(HubClaimRequest.self, from: Data(#"{"image_digests": {"1": "abc"}, "default_image": 1}"#.utf8))
        #expect(named.digest(ofImage: 1) == "abc" && named.defaultImageIndex == 1)
        #expect(HubClaimRequest(imageDigests: [1: "abc"], defaultImage: 1) == named)
    }

    @Test func aRefusedBodySaysWhichFieldAndWhy() throws {
        func reason(_ json: String) -> String {
            do {
                _ = try JobResult.decode(Data(json.utf8))
                return "decoded"
            } catch {
                return HubServer.reason(error)
            }
        }
        #expect(reason("not json") .hasPrefix("the body: "))
        #expect(reason(#"{"name": "x"}"#).contains("job is missing"), "\(reason(#"{"name": "x"}"#))")
        let wrongType = reason(#"{"job": 5, "name": "x"}"#)
        #expect(wrongType.hasPrefix("job: "), "\(wrongType)")
    }
}
