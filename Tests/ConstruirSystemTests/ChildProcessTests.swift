import ConstruirSystem
import Foundation
import Glibc
import Testing
import TestSupport

@Suite struct ChildProcessTests {
    @Test func exitStatusAndSignalAreReported() throws {
        let failing = try ChildProcess(["/bin/sh", "-c", "exit 7"], output: .null)
        #expect(failing.wait() == .exited(7))
        let killed = try ChildProcess(["/bin/sh", "-c", "kill -TERM $$"], output: .null)
        #expect(killed.wait() == .signalled(SIGTERM))
        #expect(killed.wait().status == 128 + SIGTERM)
    }

    /// A script still open for writing somewhere (a child forked by another thread holds a copy
    /// of the writer's descriptor until it execs) cannot be run for that moment: the start
    /// waits it out instead of failing with "Text file busy".
    @Test func aScriptBusyForAMomentStillStarts() async throws {
        try await withTemporaryDirectory { dir in
            let script = "\(dir)/script.sh"
            try "#!/bin/sh\necho ran\n".write(toFile: script, atomically: false, encoding: .utf8)
            chmod(script, 0o755)
            let writer = open(script, O_WRONLY | O_CLOEXEC)
            #expect(writer >= 0)
            let closer = Thread {
                usleep(200_000)
                close(writer)
            }
            closer.start()
            let child = try ChildProcess([script])
            #expect(String(decoding: try child.readAll(), as: UTF8.self) == "ran\n")
            #expect(child.wait() == .exited(0))
        }
    }

    @Test func outputIsCapturedAndErrorOutputCollectedApart() throws {
        let child = try ChildProcess(["sh", "-c", "echo out; echo err >&2"])
        #expect(String(decoding: try child.readAll(), as: UTF8.self) == "out\n")
        #expect(child.wait() == .exited(0))
        #expect(child.errorOutput == "err\n")
    }

    @Test func errorOutputCanJoinStandardOutput() throws {
        let child = try ChildProcess(["/bin/sh", "-c", "echo out; echo err >&2"], error: .standardOutput)
        #expect(String(decoding: try child.readAll(), as: UTF8.self) == "out\nerr\n")
        #expect(child.wait() == .exited(0))
    }

    @Test func inputIsFedWhileOutputIsRead() throws {
        // More than a pipe holds in both directions: feeding and reading must not wait for each other.
        let input = Data(repeating: UInt8(ascii: "x"), count: 1 << 20)
        let child = try ChildProcess(["cat"], input: .bytes(input))
        #expect(try child.readAll().count == input.count)
        #expect(child.wait() == .exited(0))
    }

    @Test func environmentAndDirectoryAreTheGivenOnes() async throws {
        try await withTemporaryDirectory { dir in
            let child = try ChildProcess(["/bin/sh", "-c", "printf '%s %s' \"$PWD\" \"$ONLY\""],
                                         environment: ["ONLY": "this"], directory: dir)
            #expect(String(decoding: try child.readAll(), as: UTF8.self) == "\(dir) this")
            #expect(child.wait() == .exited(0))
        }
    }

    @Test func noDescriptorButTheStandardOnesIsInherited() throws {
        // A pipe made without close-on-exec, as another thread might hold one.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let child = try ChildProcess(["/bin/sh", "-c", "ls /proc/$$/fd"])
        let open = String(decoding: try child.readAll(), as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        #expect(child.wait() == .exited(0))
        #expect(!open.contains(ends[0]) && !open.contains(ends[1]), "inherited: \(open)")
        // 0-2, and the one sh opened to list /proc/$$/fd.
        #expect(open.filter { $0 > 2 }.count <= 1, "inherited: \(open)")
    }

    @Test func aTimeoutKillsTheWholeProcessGroupEvenAGrandchildIgnoringSIGTERM() async throws {
        try await withTemporaryDirectory { dir in
            // The grandchild ignores SIGTERM, so only the final SIGKILL to the group can end it.
            let child = try ChildProcess(
                ["/bin/sh", "-c", "(trap '' TERM; exec sleep 3600) & echo $! > '\(dir)/grandchild'; wait"],
                output: .null, ownProcessGroup: true)
            // No bound on the time taken: a loaded test host can be slow to resume a task; that the
            // grandchild is gone below shows the kill.
            #expect(await child.exit(timeout: .milliseconds(500), grace: .milliseconds(500)) == .timedOut)
            let grandchild = try #require(Int32(try String(contentsOfFile: "\(dir)/grandchild", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            try await Task.sleep(for: .milliseconds(200))
            // Gone, or a zombie waiting for init to reap it: either way, no longer running.
            let state = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            #expect(state == nil || state == "Z", "the grandchild \(grandchild) is still alive (state \(state ?? ""))")
        }
    }

    @Test func aChildEndingInTimeIsNotTimedOut() async throws {
        let child = try ChildProcess(["/bin/sh", "-c", "exit 3"], output: .null, ownProcessGroup: true)
        #expect(await child.exit(timeout: .seconds(30)) == .exited(3))
    }

    @Test func terminateStopsAChild() throws {
        let child = try ChildProcess(["sleep", "3600"], output: .null)
        child.terminate()
        #expect(child.wait() == .signalled(SIGTERM))
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: ConstruirError.self) { try ChildProcess(["construir-no-such-program"]) }
        #expect(throws: ConstruirError.self) { try ChildProcess(["/nonexistent/sh"]) }
    }
}
