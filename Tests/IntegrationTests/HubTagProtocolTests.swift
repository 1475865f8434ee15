import Foundation
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

/// Tags through a real `construir hub serve`: a job goes only to a runner with every tag it asks
/// for, and `owner:` tags only the hub grants, to a token.
extension HubProtocolTests {
    /// Queues a job whose manifest asks for `tags`.
    private func queueTaggedJob(_ tree: HubTree, name: String, tags: [String]) async throws {
        let source = "\(tree.dir)/src-\(name)"
        try FileManager.default.createDirectory(atPath: "\(source)/job", withIntermediateDirectories: true)
        try "#!/bin/bash\necho tagged\n".write(toFile: "\(source)/job/construir", atomically: false, encoding: .utf8)
        let list = tags.map { "\"\($0)\"" }.joined(separator: ", ")
        try "tags: [\(list)]\n".write(toFile: "\(source)/job/construir.yml", atomically: false, encoding: .utf8)
        let repository = VMSuites.RunnerIntegrationTests.repository
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", source, "\(tree.dir)/\(name).packed"])
        #expect(status == 0, "\(log)")
        try FileManager.default.moveItem(atPath: "\(tree.dir)/\(name).packed", toPath: "\(tree.queue)/\(name)_i0.tar.xz")
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
