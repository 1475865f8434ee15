import AsyncHTTPClient
import Foundation
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

/// Issue 16, the runner's side of identical images: `image pull` and pull runners against a
/// real `construir hub serve --images` on loopback. Nothing boots: a runner that would get a
/// job it must not run gets none.
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: BuiltImages.available(0), "build image 0 is not built: construir image build 0 (scripts/test builds it)"))
struct ImagePullTests {
    static let image0 = "\(VMSuites.RunnerIntegrationTests.repository)/images/0"

    /// A copy of the built image 0 in `directory`.
    private func copyImage0(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.image0) where !name.hasPrefix(".") {
            try FileManager.default.copyItem(atPath: "\(Self.image0)/\(name)", toPath: "\(directory)/\(name)")
        }
    }

    /// A copy of image 0 that verifies but is not the hub's: its initramfs has other bytes, and
    /// its image.json records their sha256.
    private func copyDifferentImage0(to directory: String) throws {
        try copyImage0(to: directory)
        let initrd = "\(directory)/initrd.img"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: initrd))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: initrd))
        var manifest = try JSONDecoder().decode(BuildImage.Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/image.json")))
        manifest.files?["initrd.img"] = try BuildImage.sha256(ofFile: initrd)
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(directory)/image.json"))
        _ = try BuildImage(index: 0, directory: directory).verifiedDigest()
    }

    /// A hub serving a copy of image 0 (`DIR/hub-images/0`), with the runner tokens runner-a
    /// and runner-b and a submitter token.
    private func withImageHub(_ body: (HubTree, String, HubImage) async throws -> Void) async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("runner-b", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            try copyImage0(to: "\(dir)/hub-images/0")
            let (hub, url) = try await tree.startHub(lease: "20s", extra: ["--images", "\(dir)/hub-images"], log: "\(dir)/hub.log")
            do {
                let listing = try await tree.withClient("runner-a", url: url) { try await $0.images() }
                let image = try #require(listing.first { $0.index == 0 }, "the hub does not serve image 0: \(hub.log)")
                try await body(tree, url, image)
            } catch {
                await tree.stop([hub])
                throw ConstruirTestError("\(error)\nhub log:\n\(hub.log)")
            }
            await tree.stop([hub])
        }
    }

    /// `construir image pull 0 --images ROOT` as runner-a; its exit status and output.
    private func pull(_ tree: HubTree, _ url: String, into root: String) async throws -> (status: Int32?, log: String) {
        let process = try RunnerProcess(["0", "--hub", url, "--token-file", tree.tokenFile("runner-a"), "--images", root],
                                        command: ["image", "pull"], log: "\(tree.dir)/pull-\(UUID().uuidString).log")
        let exit = await process.wait(timeout: .seconds(180))
        return (exit?.status, process.log)
    }

    private func hashes(_ directory: String) throws -> [String: String] {
        var hashes: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            hashes[name] = try BuildImage.sha256(ofFile: "\(directory)/\(name)")
        }
        return hashes
    }

    private func pullLeftovers(_ root: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix(".pull-") }
    }

    @Test func aPulledImageHasTheHubsDigest() async throws {
        try await withImageHub { tree, url, image in
            let root = "\(tree.dir)/runner-images"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let (status, log) = try await pull(tree, url, into: root)
            #expect(status == 0, "\(log)")
            #expect(try BuildImage(index: 0, directory: "\(root)/0").digest() == image.digest)
            #expect(try BuildImage(index: 0, directory: "\(root)/0").verifiedDigest() == image.digest)
            #expect(try hashes("\(root)/0") == hashes(Self.image0).filter { name, _ in FileManager.default.fileExists(atPath: "\(root)/0/\(name)") })
            #expect(pullLeftovers(root).isEmpty)
        }
    }

    @Test func aFileCorruptedOnTheHubFailsThePullAndChangesNothing() async throws {
        try await withImageHub { tree, url, image in
            // The hub checked its image when it started; a byte changes afterwards.
            let served = "\(tree.dir)/hub-images/0/initrd.img"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: served))
            bytes[bytes.count / 3] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: served))
            let corrupted = try BuildImage.sha256(ofFile: served)
            let recorded = try #require(image.files.first { $0.name == "initrd.img" }?.sha256)

            let root = "\(tree.dir)/runner-images"
            try copyDifferentImage0(to: "\(root)/0")
            let before = try hashes("\(root)/0")
            let (status, log) = try await pull(tree, url, into: root)
            #expect(status != 0)
            #expect(log.contains("initrd.img") && log.contains(corrupted) && log.contains(recorded), "\(log)")
            #expect(try hashes("\(root)/0") == before)
            #expect(pullLeftovers(root).isEmpty)
        }
    }

    @Test func aRunnerWhoseImageDiffersFromTheHubsGetsNoJob() async throws {
        try await withImageHub { tree, url, image in
            try await HubTree.makeJob(script: "#!/bin/bash\necho hello\n", in: tree.dir, name: "hello", to: "\(tree.queue)/hello_i0.tar.xz")
            let root = "\(tree.dir)/runner-images"
            try copyDifferentImage0(to: "\(root)/0")
            let runner = try RunnerProcess(["--hub", url, "--token-file", tree.tokenFile("runner-a"), "--state", "\(tree.dir)/state-a",
                                            "--images", root, "--memory", "256M", "--slots", "1", "--grace", "5s"],
                                           log: "\(tree.dir)/runner-a.log")
            defer { if runner.process.isRunning { runner.signal(SIGKILL) } }
            // The runner claims first and holds a long poll once the claim got nothing.
            try await waitForLongPoll(url, runner: runner)
            let status = try await tree.withClient("runner-b", url: url) { try await $0.status() }
            #expect(status.queued == 1)
            #expect(status.leases.isEmpty)
            #expect(!runner.log.contains("claimed job from the hub"), "\(runner.log)")

            // A runner with the hub's image 0 gets the job, and the claim names the digest.
            let claim = try await tree.withClient("runner-b", url: url) {
                try await $0.claim(HubClaimRequest(imageDigests: [0: image.digest], defaultImage: 0))
            }
            #expect(claim?.job == "hello_i0.tar.xz")
            #expect(claim?.imageDigest == image.digest)
            await tree.stop([runner])
        }
    }

    @Test func aPullRunnerFetchesTheHubsImageAtStart() async throws {
        try await withImageHub { tree, url, image in
            let root = "\(tree.dir)/runner-images"
            try copyDifferentImage0(to: "\(root)/0")
            let runner = try RunnerProcess(["--hub", url, "--token-file", tree.tokenFile("runner-a"), "--state", "\(tree.dir)/state-a",
                                            "--images", root, "--memory", "256M", "--slots", "1", "--grace", "5s", "--pull-images"],
                                           log: "\(tree.dir)/runner-a.log")
            defer { if runner.process.isRunning { runner.signal(SIGKILL) } }
            try await waitForLongPoll(url, runner: runner)
            #expect(runner.log.contains("pulled build image from the hub"), "\(runner.log)")
            #expect(try BuildImage(index: 0, directory: "\(root)/0").verifiedDigest() == image.digest)
            #expect(pullLeftovers(root).isEmpty)
            await tree.stop([runner])
        }
    }

    @Test func theImageRoutesServeOnlyListedFilesToRunnerTokens() async throws {
        try await withImageHub { tree, url, image in
            let runner = "Bearer \(try tree.secret("runner-a"))"
            /// The status and the body's length.
            func get(_ path: String, _ authorization: String?, range: String? = nil) async throws -> (UInt, Int) {
                var request = HTTPClientRequest(url: url + path)
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                if let range { request.headers.add(name: "Range", value: range) }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                return (response.status.code, try await response.body.collect(upTo: 1 << 30).readableBytes)
            }
            let listed = try #require(image.files.first)
            #expect(try await get(HubPaths.imageFile(0, listed.name), runner).1 == Int(listed.size))
            let (partial, length) = try await get(HubPaths.imageFile(0, listed.name), runner, range: "bytes=10-19")
            #expect(partial == 206 && length == 10)
            #expect(try await get(HubPaths.imageManifest(0), runner).0 == 200)
            #expect(try await get(HubPaths.images, nil).0 == 401)
            #expect(try await get(HubPaths.images, "Bearer \(try tree.secret("submitter"))").0 == 403)
            // Not listed, hidden, a path, another spelling of the index, an image not served.
            for path in ["\(HubPaths.images)/0/files/image.json", "\(HubPaths.images)/0/files/.hidden", "\(HubPaths.images)/0/files/..",
                         "\(HubPaths.images)/0/files/..%2Fimage.json", "\(HubPaths.images)/0/files/%2Fetc%2Fpasswd",
                         "\(HubPaths.images)/00/image.json", "\(HubPaths.images)/+0/image.json", "\(HubPaths.images)/1/image.json",
                         "\(HubPaths.images)/0/files/\(listed.name)x"] {
                #expect(try await get(path, runner).0 == 404, "\(path)")
            }
        }
    }

    @Test func aHubWithoutImagesAnswers404AndFiltersNoClaim() async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(dir)/hub.log")
            try await HubTree.makeJob(script: "#!/bin/bash\necho hello\n", in: dir, name: "hello", to: "\(tree.queue)/hello_i0.tar.xz")
            try await tree.withClient("runner-a", url: url) { client in
                do {
                    _ = try await client.images()
                    Issue.record("a hub without --images listed images")
                } catch let error as HubClientError {
                    #expect(error.status == 404, "\(error)")
                }
                let claim = try await client.claim(HubClaimRequest(imageDigests: [0: String(repeating: "0", count: 64)], defaultImage: 0))
                #expect(claim?.job == "hello_i0.tar.xz")
                #expect(claim?.imageDigest == nil)
            }
            await tree.stop([hub])
        }
    }

    /// Waits until the hub holds a long poll (`construir_hub_waiting_polls 1`): the runner
    /// pulled what it pulls at start, claimed, and got nothing.
    private func waitForLongPoll(_ url: String, runner: RunnerProcess) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            guard runner.process.isRunning else { throw ConstruirTestError("the runner exited: \(runner.log)") }
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(url)/metrics"), timeout: .seconds(30))
            let metrics = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let waiting = metrics.split(separator: "\n").first { $0.hasPrefix("construir_hub_waiting_polls ") }
                .flatMap { Double($0.split(separator: " ").last ?? "") }
            if waiting == 1 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ConstruirTestError("the runner never held a long poll: \(runner.log)")
    }
}
