import ConstruirSystem
import Foundation
import Testing
@testable import JobModel

@Suite struct PackagedSourceTests {
    static let commit = String(repeating: "0123456789", count: 4)

    @Test func whatThePackagerWritesParsesBackAndLandsInResultJSON() throws {
        for source in [PackagedSource(commit: Self.commit, uncommittedChanges: true),
                       PackagedSource(commit: String(repeating: "ab", count: 32), uncommittedChanges: false)] {
            #expect(try PackagedSource.parse(source.encoded()) == source)
        }
        var result = JobResult(job: "a_i0.tar.xz", name: "a", status: .passed, exitCode: 0, error: nil, image: nil,
                               timestamps: .init(queued: Date(), started: Date(), finished: Date()),
                               durations: .init(wait: 0, total: 0), sizes: .init(job: 1), limits: nil, runner: "test")
        #expect(!String(decoding: try result.encoded(), as: UTF8.self).contains("\"source\""))
        result.source = PackagedSource(commit: Self.commit, uncommittedChanges: true)
        let json = String(decoding: try result.encoded(), as: UTF8.self)
        #expect(json.contains("\"source\"") && json.contains("\"uncommitted_changes\" : true"), "\(json)")
        #expect(try JobResult.decode(result.encoded()).source == result.source)
    }

    @Test(arguments: [
        ("", "is not {"),
        ("[]", "is not {"),
        ("{\"commit\": \"\(commit)\"}", "is not {"),
        ("{\"commit\": \"\(commit)\", \"uncommitted_changes\": 1}", "is not {"),
        ("{\"commit\": \"\(commit)\", \"uncommitted_changes\": \"true\"}", "is not {"),
        ("{\"commit\": \"\(commit)\", \"uncommitted_changes\": true, \"signed\": true}", "unknown field 'signed'"),
        ("{\"commit\": \"\(String(repeating: "AB", count: 20))\", \"uncommitted_changes\": true}", "40 or 64 lowercase hex"),
        ("{\"commit\": \"abc\", \"uncommitted_changes\": true}", "40 or 64 lowercase hex"),
        ("{\"commit\": \"\(commit)\\n\", \"uncommitted_changes\": true}", "40 or 64 lowercase hex"),
        ("{\"commit\": \"\(commit)\", \"uncommitted_changes\": true, \"x\": \"\(String(repeating: "y", count: 1100))\"}", "larger than 1024"),
    ] as [(String, String)])
    func anythingElseIsRefused(text: String, reason: String) {
        let error = #expect(throws: ConstruirError.self) { try PackagedSource.parse(Array(text.utf8)) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.description.contains("job/source.json") == true && error?.description.contains(reason) == true,
                "\(String(describing: error))")
    }
}
