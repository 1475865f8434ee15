import ConstruirSystem
import Foundation
import HubAPI
@testable import HubClient
import JobModel
import Testing
import TestSupport

/// Installing a pulled image: all or nothing, and never over a build of the same image.
@Suite struct ImageInstallerTests {
    /// A small image N in `directory` (a kernel and an initramfs of `seed`'s bytes) and the
    /// hub's listing of it.
    private func makeImage(_ index: Int, in directory: String, seed: UInt8) throws -> HubImage {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let contents = ["vmlinux": Data(repeating: seed, count: 70_000), "initrd.img": Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0) &+ seed })]
        var sums: [String: String] = [:]
        for (name, data) in contents {
            try data.write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
            sums[name] = try BuildImage.sha256(ofFile: "\(directory)/\(name)")
        }
        let manifest = BuildImage.Manifest(index: index, description: "test image \(seed)", protocol: 1, kernel: "vmlinux",
                                           initrd: "initrd.img", cmdline: "console=ttyS0", files: sums)
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(directory)/image.json"))
        let digest = try BuildImage(index: index, directory: directory).digest()
        return HubImage(index: index, digest: digest, files: contents.keys.sorted().map {
            HubImage.File(name: $0, sha256: sums[$0]!, size: Int64(contents[$0]!.count))
        })
    }

    /// A fetch that copies from `source`, hashing what it wrote; `corrupt` names a file whose
    /// first byte it flips.
    private func copying(from source: String, corrupt: String? = nil) -> @Sendable (HubImage.File, String) async throws -> String {
        { file, path in
            var data = try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(file.name)"))
            if file.name == corrupt { data[0] ^= 0xff }
            try data.write(to: URL(fileURLWithPath: path))
            return try BuildImage.sha256(ofFile: path)
        }
    }

    private func manifest(_ directory: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: "\(directory)/image.json"))
    }

    private func leftovers(_ root: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix(".pull-") }
    }

    @Test func aPullReplacesAnExistingImageWhole() async throws {
        try await withTemporaryDirectory { dir in
            let root = "\(dir)/images"
            _ = try makeImage(0, in: "\(root)/0", seed: 1)
            try Data("from the old image".utf8).write(to: URL(fileURLWithPath: "\(root)/0/packages.txt"))
            let hub = try makeImage(0, in: "\(dir)/hub/0", seed: 2)

            try await ImageInstaller(root: root).install(hub, manifest: try manifest("\(dir)/hub/0"), fetch: copying(from: "\(dir)/hub/0"))

            #expect(try BuildImage(index: 0, directory: "\(root)/0").verifiedDigest() == hub.digest)
            #expect(try manifest("\(root)/0") == manifest("\(dir)/hub/0"))
            #expect(!FileManager.default.fileExists(atPath: "\(root)/0/packages.txt"))  // the old image is gone, not merged
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/0").sorted() == ["image.json", "initrd.img", "vmlinux"])
            #expect(leftovers(root).isEmpty)
            let mode = try #require(FileManager.default.attributesOfItem(atPath: "\(root)/0")[.posixPermissions] as? Int)
            #expect(mode == 0o755)
        }
    }

    @Test func aPullIntoAnEmptyImagesDirectoryInstallsTheImage() async throws {
        try await withTemporaryDirectory { dir in
            let root = "\(dir)/images"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let hub = try makeImage(3, in: "\(dir)/hub/3", seed: 7)
            try await ImageInstaller(root: root).install(hub, manifest: try manifest("\(dir)/hub/3"), fetch: copying(from: "\(dir)/hub/3"))
            #expect(try BuildImage(index: 3, directory: "\(root)/3").verifiedDigest() == hub.digest)
            #expect(leftovers(root).isEmpty)
        }
    }

    @Test func aFileWithAnotherSHA256LeavesTheImageAsItWas() async throws {
        try await withTemporaryDirectory { dir in
            let root = "\(dir)/images"
            let old = try makeImage(0, in: "\(root)/0", seed: 1)
            let before = try FileManager.default.contentsOfDirectory(atPath: "\(root)/0").sorted()
            let hub = try makeImage(0, in: "\(dir)/hub/0", seed: 2)
            let good = try #require(hub.files.first { $0.name == "initrd.img" }?.sha256)
            var corrupted = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/hub/0/initrd.img"))
            corrupted[0] ^= 0xff
            try corrupted.write(to: URL(fileURLWithPath: "\(dir)/corrupted"))
            let bad = try BuildImage.sha256(ofFile: "\(dir)/corrupted")

            do {
                try await ImageInstaller(root: root).install(hub, manifest: try manifest("\(dir)/hub/0"),
                                                             fetch: copying(from: "\(dir)/hub/0", corrupt: "initrd.img"))
                Issue.record("a corrupted file was installed")
            } catch {
                let message = "\(error)"
                #expect(message.contains("initrd.img") && message.contains(good) && message.contains(bad), "\(message)")
            }
            #expect(try BuildImage(index: 0, directory: "\(root)/0").verifiedDigest() == old.digest)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/0").sorted() == before)
            #expect(leftovers(root).isEmpty)
        }
    }

    @Test func aPullIsRefusedWhileABuildHoldsTheImage() async throws {
        try await withTemporaryDirectory { dir in
            let root = "\(dir)/images"
            let hub = try makeImage(0, in: "\(dir)/hub/0", seed: 2)
            let build = try BuildLock(root: root, index: 0)
            await #expect(throws: ConstruirError.self) {
                try await ImageInstaller(root: root).install(hub, manifest: try manifest("\(dir)/hub/0"), fetch: copying(from: "\(dir)/hub/0"))
            }
            #expect(!FileManager.default.fileExists(atPath: "\(root)/0"))
            build.release()
            try await ImageInstaller(root: root).install(hub, manifest: try manifest("\(dir)/hub/0"), fetch: copying(from: "\(dir)/hub/0"))
            #expect(try BuildImage(index: 0, directory: "\(root)/0").verifiedDigest() == hub.digest)
        }
    }

    @Test func anImageJSONNamingAPathIsRefused() throws {
        let image = HubImage(index: 0, digest: "x", files: [.init(name: "vmlinux", sha256: "a", size: 1)])
        let manifest = BuildImage.Manifest(index: 0, description: "", protocol: 1, kernel: "../vmlinux", initrd: nil, cmdline: "",
                                           files: ["../vmlinux": "a"])
        #expect(throws: ConstruirError.self) { _ = try ImageInstaller.check(try JSONEncoder().encode(manifest), of: image) }
        let other = BuildImage.Manifest(index: 1, description: "", protocol: 1, kernel: "vmlinux", initrd: nil, cmdline: "", files: ["vmlinux": "a"])
        #expect(throws: ConstruirError.self) { _ = try ImageInstaller.check(try JSONEncoder().encode(other), of: image) }
    }
}
