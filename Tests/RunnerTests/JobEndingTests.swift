import Testing
@testable import JobModel
@testable import Runner
import VMHost

/// The classify step alone: how a VM's stop and the guest's report make a job's status.
@Suite struct JobEndingTests {
    func guest(_ state: GuestStatus.State, exitCode: Int? = nil, error: String? = nil) -> GuestStatus {
        var status = GuestStatus(state: state)
        status.exitCode = exitCode
        status.error = error
        return status
    }

    func classify(_ stop: StopReason, _ guest: GuestStatus?, problems: [String] = [], stages: [StageResult]? = nil) -> JobEnding {
        JobEnding.classify(stop: stop, guest: guest, problems: problems, stages: stages, timeout: .seconds(90))
    }

    @Test func aGuestThatFinishedPassesOrFailsByItsExitCode() {
        #expect(classify(.guestPoweredOff, guest(.finished, exitCode: 0)) == .init(status: .passed))
        #expect(classify(.guestPoweredOff, guest(.finished, exitCode: 3)) == .init(status: .failed))
        #expect(classify(.guestPoweredOff, guest(.finished, exitCode: 0), problems: ["output: too large"])
                == .init(status: .error, error: "output: too large"), "a finished job whose output was refused is an error")
    }

    @Test func theRunnersReasonToStopComesFirstWithWhatCollectingFound() {
        #expect(classify(.timedOut, guest(.running), problems: ["output: empty"])
                == .init(status: .timedOut, error: "timed out after 90s; output: empty"))
        #expect(classify(.limitExceeded("the console log went over 10 bytes"), guest(.finished, exitCode: 0))
                == .init(status: .error, error: "the console log went over 10 bytes: the VM was destroyed"))
        #expect(classify(.killed, nil).status == .killed)
        #expect(classify(.killed, nil).error == KillRequest.killedWhileRunning)
    }

    @Test func aGuestThatStoppedWithoutFinishingIsAnError() {
        #expect(classify(.guestPoweredOff, guest(.error, error: "no /job/construir")) == .init(status: .error, error: "guest agent: no /job/construir"))
        #expect(classify(.stopped(detail: "crashed"), nil).error == "the VM stopped (crashed) without reporting a result")
        #expect(classify(.guestPoweredOff, guest(.running)).error?.hasSuffix("while the job was running") == true)
        #expect(classify(.stopped(detail: "crashed"), guest(.waiting)).error?.hasPrefix("the warm VM") == true)
    }

    @Test func stagesAllowedToFailMakeAPassWithFailures() {
        let stages = [StageResult(name: "build", status: .passed, allowFailure: false),
                      StageResult(name: "lint", status: .failed, allowFailure: true)]
        #expect(classify(.guestPoweredOff, guest(.finished, exitCode: 0), stages: stages)
                == .init(status: .passedWithFailures, error: "stages allowed to fail failed: lint"))
        #expect(classify(.guestPoweredOff, guest(.finished, exitCode: 0), stages: [stages[0]]) == .init(status: .passed))
    }
}
