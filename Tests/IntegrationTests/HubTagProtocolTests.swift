import Foundation
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

/// Tags through a real `construir hub serve`: a job goes only to a runner with every tag it asks
/// for, and `owner:` tags only the hub grants, to a token.
extension HubProtocolTests {
    /// Queues a job whose manifest asks for `tags` (and `secrets`).
    private func queueTaggedJob(_ tree: HubTree, name: String, tags: [String], secrets: [String] = []) async throws {
        let packed = try await packTaggedJob(tree, name: name, tags: tags, secrets: secrets)
        try FileManager.default.moveItem(atPath: packed, toPath: "\(tree.queue)/\(name)_i0.tar.xz")
    }

    /// Packs a job whose manifest asks for `tags` and `secrets`; returns its file.
    private func packTaggedJob(_ tree: HubTree, name: String, tags: [String], secrets: [String] = []) async throws -> String {
        let source = "\(tree.dir)/src-\(name)"
        try FileManager.default.createDirectory(atPath: "\(source)/job", withIntermediateDirectories: true)
        try "#!/bin/bash\necho tagged\n".write(toFile: "\(source)/job/construir", atomically: false, encoding: .utf8)
        let list = tags.map { "\"\($0)\"" }.joined(separator: ", ")
        try "tags: [\(list)]\nsecrets: [\(secrets.joined(separator: ", "))]\n".write(toFile: "\(source)/job/construir.yml", atomically: false, encoding: .utf8)
        let repository = VMSuites.RunnerIntegrationTests.repository
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", source, "\(tree.dir)/\(name).packed"])
        #expect(status == 0, "\(log)")
        return "\(tree.dir)/\(name).packed"
    }

    /// A volunteer's secrets go only to jobs of whom the hub says the volunteer runs for: a job
    /// with `secrets:` is refused without `--allow-secrets`, and with it unless it asks for an
    /// `owner:` tag; one dropped into the hub's queue ends `rejected` the same way.
    @Test func jobsWithSecretsAreRefusedUnlessTheHubAllowsThemAndTheyAskForAnOwner() async throws {
        for allowed in [false, true] {
            try await withHub(.sqlite, extra: allowed ? ["--allow-secrets"] : [], runners: ["alice-box@owner:alice"]) { tree, url in
                let plain = try await packTaggedJob(tree, name: "plain", tags: ["gpu"], secrets: ["TOKEN"])
                let owned = try await packTaggedJob(tree, name: "owned", tags: ["owner:alice"], secrets: ["TOKEN"])
                let submit = { (file: String, name: String) async throws -> HubReceipt in
                    try await tree.withClient("submitter", url: url) { try await $0.submit(file: file, as: name) }
                }
                await #expect { _ = try await submit(plain, "plain_i0.tar.xz") } throws: {
                    "\($0)".contains(allowed ? "must also ask for an owner: tag" : "this hub takes no such jobs")
                }
                if allowed {
                    #expect(try await submit(owned, "owned_i0.tar.xz").job == "owned_i0.tar.xz")
                } else {
                    await #expect { _ = try await submit(owned, "owned_i0.tar.xz") } throws: { "\($0)".contains("this hub takes no such jobs") }
                }
                try await queueTaggedJob(tree, name: "dropped", tags: [], secrets: ["TOKEN"])
                let dropped = try await waitForResult(tree, "dropped")
                #expect(dropped.status == .rejected && dropped.error?.contains("secrets") == true, "\(dropped.error ?? "")")
                // Only alice's machine is handed the allowed job; nobody gets a refused one.
                let asking = HubClaimRequest(imageDigests: [:], defaultImage: 0, tags: ["gpu"])
                #expect(try await tree.withClient("runner-a", url: url) { try await $0.claim(asking) } == nil)
                let alices = try await tree.withClient("alice-box", url: url) { try await $0.claim(asking) }
                #expect(alices?.job == (allowed ? "owned_i0.tar.xz" : nil))
            }
        }
    }

    @Test(arguments: Store.tested) func taggedJobsGoOnlyToRunnersWithTheirTagsAndOwnerTagsOnlyByTheHubsGrant(store: Store) async throws {
        try await withHub(store, runners: ["alice-box@owner:alice"]) { tree, url in
            try await queueTaggedJob(tree, name: "alices", tags: ["owner:alice"])
            try await queueTaggedJob(tree, name: "gpu", tags: ["gpu"])
            let asking = { (tags: [String]) in HubClaimRequest(imageDigests: [:], defaultImage: 0, tags: tags) }
            try await queueTaggedJob(tree, name: "nobodys", tags: ["fpga"])
            // runner-a says it is alice's and has no gpu: nothing for it.
            #expect(try await tree.withClient("runner-a", url: url) { try await $0.claim(asking(["owner:alice"])) } == nil,
                    "a runner cannot give itself an owner: tag")
            // runner-b has a gpu.
            let gpu = try await tree.withClient("runner-b", url: url) { try await $0.claim(asking(["gpu", "arch:x86_64"])) }
            #expect(gpu?.job == "gpu_i0.tar.xz")
            // alice's machine, tagged by the hub, gets alice's job without asking for the tag.
            let alices = try await tree.withClient("alice-box", url: url) { try await $0.claim(asking([])) }
            #expect(alices?.job == "alices_i0.tar.xz")
            // No runner that claimed has an fpga: the status says so.
            let status = try await tree.withClient("runner-a", url: url) { try await $0.status() }
            #expect(status.unservable?.map(\.job) == ["nobodys_i0.tar.xz"], "\(String(describing: status.unservable))")
            let binary = try await construirBinary(repository: VMSuites.RunnerIntegrationTests.repository)
            let (_, text) = try await runTool([binary, "status", "--hub", url, "--token-file", tree.tokenFile("runner-a")])
            #expect(text.contains("nobodys_i0.tar.xz  tags fpga"), "\(text)")
        }
    }
}
