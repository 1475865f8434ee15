import Foundation
import Testing
import TestSupport
@testable import Runner

/// The runner boots only images whose files match the sha256 values in their image.json.
@Suite struct ImageVerificationTests {
    private func makeImage(_ dir: String) throws -> BuildImage {
        let directory = "\(dir)/1"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var files: [String: String] = [:]
        for (name, text) in ["vmlinux": "kernel", "initrd.img": "initramfs", "rootfs.squashfs": "root filesystem"] {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
            files[name] = try BuildImage.sha256(ofFile: "\(directory)/\(name)")
        }
        let manifest = BuildImage.Manifest(index: 1, description: "test", protocol: 1, kernel: "vmlinux",
                                           initrd: "initrd.img", rootfs: "rootfs.squashfs", cmdline: "console=ttyS0",
                                           files: files)
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(directory)/image.json"))
        return try BuildImage(index: 1, directory: directory)
    }

    @Test func theRootFilesystemIsABootFile() async throws {
        try await withTemporaryDirectory { dir in
            let image = try makeImage(dir)
            #expect(image.bootFiles == ["vmlinux", "initrd.img", "rootfs.squashfs"])
            #expect(image.rootfsPath == "\(dir)/1/rootfs.squashfs")
            #expect(try image.verifiedDigest() == image.digest())
        }
    }

    @Test func aModifiedImageIsRefusedUntilItMatchesAgain() async throws {
        try await withTemporaryDirectory { dir in
            let image = try makeImage(dir)
            let cache = ImageDigestCache()
            let digest = try cache.digest(of: image)
            #expect(digest == (try image.digest()))
            #expect(try cache.digest(of: image) == digest)

            // One byte of the root filesystem changes (same size).
            let rootfs = "\(dir)/1/rootfs.squashfs"
            try "root filesystex".write(toFile: rootfs, atomically: false, encoding: .utf8)
            let error = #expect(throws: (any Error).self) { try cache.digest(of: image) }
            let message = "\(error.map { "\($0)" } ?? "")"
            #expect(message.contains("build image 1 does not match its image.json"), "\(message)")
            #expect(message.contains("rootfs.squashfs has sha256 "))
            #expect(message.contains("construir image build 1"))
            // Refused again from the cache.
            #expect(throws: (any Error).self) { try cache.digest(of: image) }

            // Put back: accepted again.
            try "root filesystem".write(toFile: rootfs, atomically: false, encoding: .utf8)
            #expect(try cache.digest(of: image) == digest)

            // Replaced by another file (a new inode) with other content: refused.
            try "root filesystem 2".write(toFile: rootfs, atomically: true, encoding: .utf8)
            #expect(throws: (any Error).self) { try cache.digest(of: image) }
        }
    }

    @Test func anImageWithoutRecordedHashesIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/0", withIntermediateDirectories: true)
            try "k".write(toFile: "\(dir)/0/vmlinux", atomically: true, encoding: .utf8)
            try #"{"index": 0, "description": "old", "protocol": 1, "kernel": "vmlinux", "cmdline": "x"}"#
                .write(toFile: "\(dir)/0/image.json", atomically: true, encoding: .utf8)
            let image = try BuildImage(index: 0, directory: "\(dir)/0")
            let error = #expect(throws: (any Error).self) { try ImageDigestCache().digest(of: image) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("vmlinux has no sha256 in image.json"))
        }
    }
}
