import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
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

    /// Hashes a file of the image counted by path, through a `FileDigestStore` at `store`.
    private final class CountingHasher: @unchecked Sendable {
        var hashed: [String] = []
        let store: FileDigestStore
        init(_ path: String) { store = FileDigestStore(path: path) }
        func verify(_ image: BuildImage) throws -> String {
            try image.verifiedDigest(sha256: { path in
                if FileDigestStore.read(store.path)?[path]?.identity != FileIdentity(path: path) { hashed.append((path as NSString).lastPathComponent) }
                return try store.sha256(ofFile: path)
            })
        }
    }

    @Test func fileHashesOutliveTheProcessAndAChangedFileIsHashedAgain() async throws {
        try await withTemporaryDirectory { dir in
            let image = try makeImage(dir)
            let store = "\(dir)/state/image-digests.json"
            try FileManager.default.createDirectory(atPath: "\(dir)/state", withIntermediateDirectories: true)
            // A file changed within the last second is not remembered (its timestamps could
            // still miss a second write), so let the new image settle.
            try await Task.sleep(for: .milliseconds(1100))
            let digest = try image.digest()
            #expect(try ImageDigestCache(persistingTo: store).digest(of: image) == digest)
            let saved = try #require(FileDigestStore.read(store))
            #expect(Set(saved.keys) == Set(image.verifiedFiles.map { "\(dir)/1/\($0)" }))
            var st = stat()
            #expect(stat(store, &st) == 0 && st.st_mode & 0o777 == 0o600)

            // A new process (a new cache) hashes nothing.
            let first = CountingHasher(store)
            #expect(try first.verify(image) == digest)
            #expect(first.hashed.isEmpty)

            // The rootfs changes (same size): only it is hashed again, and the image is refused.
            let rootfs = "\(dir)/1/rootfs.squashfs"
            try "root filesystex".write(toFile: rootfs, atomically: false, encoding: .utf8)
            let second = CountingHasher(store)
            #expect(throws: (any Error).self) { try second.verify(image) }
            #expect(second.hashed == ["rootfs.squashfs"])
            #expect(throws: (any Error).self) { try ImageDigestCache(persistingTo: store).digest(of: image) }

            // Put back: accepted, after hashing it again.
            try "root filesystem".write(toFile: rootfs, atomically: false, encoding: .utf8)
            #expect(try ImageDigestCache(persistingTo: store).digest(of: image) == digest)
        }
    }

    @Test func aTamperedOrForeignStoreDoesNotMakeABadImagePass() async throws {
        try await withTemporaryDirectory { dir in
            let image = try makeImage(dir)
            let store = "\(dir)/image-digests.json"
            try await Task.sleep(for: .milliseconds(1100))
            let rootfs = "\(dir)/1/rootfs.squashfs"
            let good = try BuildImage.sha256(ofFile: rootfs)
            _ = try ImageDigestCache(persistingTo: store).digest(of: image)

            // The rootfs is modified, and the store edited to claim the old hash for it, under
            // the identity it had before: the identity no longer matches, so it is hashed.
            let before = try #require(FileIdentity(path: rootfs))
            try "root filesystex".write(toFile: rootfs, atomically: false, encoding: .utf8)
            var text = try String(contentsOfFile: store, encoding: .utf8)
            #expect(text.contains(good))
            #expect(throws: (any Error).self) { try ImageDigestCache(persistingTo: store).digest(of: image) }

            // Claiming the recorded hash under the file's current identity, but in a store others
            // may write: not read at all.
            let now = try #require(FileIdentity(path: rootfs))
            text = text.replacingOccurrences(of: "\(before.ctime)", with: "\(now.ctime)")
                .replacingOccurrences(of: "\(before.mtime)", with: "\(now.mtime)")
            try text.write(toFile: store, atomically: false, encoding: .utf8)
            #expect(chmod(store, 0o666) == 0)
            #expect(FileDigestStore.read(store) == nil)
            #expect(throws: (any Error).self) { try ImageDigestCache(persistingTo: store).digest(of: image) }

            // Garbage, a wrong version, or hashes that are not hashes: ignored.
            for bad in ["{not json", #"{"version": 2, "files": {}}"#,
                        #"{"version": 1, "files": {"\#(rootfs)": {"identity": {"device": 0, "inode": 0, "size": 0, "mtime": 0, "ctime": 0}, "sha256": "../x"}}}"#] {
                unlink(store)
                try bad.write(toFile: store, atomically: false, encoding: .utf8)
                #expect(chmod(store, 0o600) == 0)
                #expect(FileDigestStore.read(store)?.isEmpty ?? true)
                #expect(throws: (any Error).self) { try ImageDigestCache(persistingTo: store).digest(of: image) }
            }

            // Put back: passes, and the store is rewritten as a valid one.
            try "root filesystem".write(toFile: rootfs, atomically: false, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try ImageDigestCache(persistingTo: store).digest(of: image) == image.digest())
            #expect(FileDigestStore.read(store)?[rootfs]?.sha256 == good)
        }
    }
}
