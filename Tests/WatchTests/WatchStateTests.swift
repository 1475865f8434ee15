import Foundation
import Testing
import Watch

@Suite struct WatchStateTests {
    private let main = "refs/heads/main", dev = "refs/heads/dev", tag = "refs/tags/v1"

    @Test func firstPollTakesOnlyEachTip() {
        let state = WatchState(url: "/r")
        let moves = state.moves(remote: [main: "b", dev: "d", "refs/heads/other": "o"], watches: { $0 != "refs/heads/other" })
        #expect(moves == [.init(ref: dev, old: nil, new: "d"), .init(ref: main, old: nil, new: "b")])
        #expect(state.candidates(for: moves[1], between: ["a", "b"]) == ["b"])
    }

    @Test func laterPollsTakeEveryCommitBetweenOnce() {
        var state = WatchState(url: "/r")
        state.initialized = true
        state.advance(main, to: "a")
        state.recordQueued("a", ref: main, jobs: ["r_a_i0.tar.xz"], at: Date(), reporting: false)
        let move = WatchState.Move(ref: main, old: "a", new: "c")
        #expect(state.candidates(for: move, between: ["b", "c"]) == ["b", "c"])
        state.recordQueued("c", ref: dev, jobs: ["r_c_i0.tar.xz"], at: Date(), reporting: false)
        // c was queued for another branch: not again.
        #expect(state.candidates(for: move, between: ["b", "c"]) == ["b"])
        // A ref new to a known repository (a new tag) gets its tip, unless that was queued.
        #expect(state.candidates(for: .init(ref: tag, old: nil, new: "c"), between: []) == [])
        #expect(state.moves(remote: [main: "a"], watches: { _ in true }) == [])
    }

    @Test func anIntentBecomesAQueuedCommitWithItsReports() {
        var state = WatchState(url: "/r")
        state.intend("b", ref: main, jobs: ["r_b_i0.tar.xz", "r_b_i1.tar.xz"])
        #expect(state.intents.count == 1)
        state.intents[0].hubIDs["r_b_i0.tar.xz"] = "7"
        state.recordQueued("b", ref: main, jobs: ["r_b_i0.tar.xz", "r_b_i1.tar.xz"], at: Date(), reporting: true)
        #expect(state.intents.isEmpty && state.queued["b"]?.ref == main)
        #expect(state.reports.map(\.job) == ["r_b_i0.tar.xz", "r_b_i1.tar.xz"])
        #expect(state.reports.map(\.hubID) == ["7", nil])
    }

    @Test func aReportGoesPendingThenFinalAndBacksOff() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        var task = ReportTask(job: "j", commit: "c", ref: main)
        #expect(task.due(at: now, pendingLink: "L")! == ("pending", "L"))
        let first = task.failed(at: now, limit: 3, base: .seconds(10), cap: .seconds(15))
        #expect(!first)
        #expect(task.due(at: now.addingTimeInterval(9), pendingLink: nil) == nil)
        #expect(task.due(at: now.addingTimeInterval(10), pendingLink: nil) != nil)
        let second = task.failed(at: now, limit: 3, base: .seconds(10), cap: .seconds(15))
        #expect(!second)
        #expect(task.notBefore == now.addingTimeInterval(15))
        let gaveUp = task.failed(at: now, limit: 3, base: .seconds(10), cap: .seconds(15))
        #expect(gaveUp)
        #expect(task.due(at: now, pendingLink: nil) == nil)  // waits for the final status
        task.final = .init(status: "passed", link: "/done/j")
        #expect(task.due(at: now, pendingLink: nil)! == ("passed", "/done/j"))
        task.delivered()
        #expect(task.isFinished)
    }

    @Test func backoffDoublesUpToItsCap() {
        #expect(WatchState.backoff(failures: 1, base: .seconds(5), cap: .seconds(60)) == .seconds(5))
        #expect(WatchState.backoff(failures: 3, base: .seconds(5), cap: .seconds(60)) == .seconds(20))
        #expect(WatchState.backoff(failures: 30, base: .seconds(5), cap: .seconds(60)) == .seconds(60))
    }

    @Test func forgeStates() {
        #expect(["pending", "passed", "failed", "timed_out", "error", "killed"].map(CommitStatusReport.forgeState)
            == ["pending", "success", "failure", "failure", "error", "error"])
    }

    @Test func lsRemoteOutputPeelsTags() {
        let a = String(repeating: "a", count: 40), b = String(repeating: "b", count: 40), c = String(repeating: "c", count: 40)
        let refs = RepositoryPoller.parseRefs("\(a)\trefs/heads/main\n\(b)\trefs/tags/v1\n\(c)\trefs/tags/v1^{}\nwarning: x\n")
        #expect(refs == ["refs/heads/main": a, "refs/tags/v1": c])
    }
}
