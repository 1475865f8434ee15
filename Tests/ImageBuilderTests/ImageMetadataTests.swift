import Foundation
import Testing
import TestSupport
@testable import ImageBuilder
import JobModel

@Suite struct ImageMetadataTests {
    @Test func aManifestSurvivesWritingAndReading() async throws {
        try await withTemporaryDirectory { dir in
            let written = try makeFakeImage(in: dir, index: 3, recipeSHA256: String(repeating: "ab", count: 32))
            let read = try ImageMetadata.read(directory: "\(dir)/3")
            #expect(read == written)
            #expect(read.rootfs == "rootfs.squashfs")
            #expect(read.rootfsPackages == "packages.txt")
            #expect(read.files?.count == 4)
            // The JSON uses the documented key names.
            let json = try String(contentsOfFile: "\(dir)/3/image.json", encoding: .utf8)
            for key in ["\"rootfs\"", "\"rootfs_packages\"", "\"recipe_sha256\"", "\"kernel_version\"", "\"files\""] {
                #expect(json.contains(key), "\(key)")
            }
            // The runner reads the same file; the root filesystem is a boot file, last.
            let image = try BuildImage(index: 3, directory: "\(dir)/3")
            #expect(image.bootFiles == ["vmlinux", "initrd.img", "rootfs.squashfs"])
            #expect(image.rootfsPath == "\(dir)/3/rootfs.squashfs")
            #expect(image.verifiedFiles == ["initrd.img", "packages.txt", "rootfs.squashfs", "vmlinux"])
        }
    }

    /// image.json as build-image0.sh writes it (no rootfs, no recipe hash) still reads.
    @Test func anImage0ManifestStillReads() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/0", withIntermediateDirectories: true)
            try """
            {
              "index": 0,
              "description": "image zero",
              "protocol": 1,
              "kernel": "vmlinux",
              "initrd": "initrd.img",
              "cmdline": "console=ttyS0",
              "kernel_version": "6.1.0-56-amd64",
              "packages": ["bash 5.2"],
              "files": {"vmlinux": "aa", "initrd.img": "bb"}
            }
            """.write(toFile: "\(dir)/0/image.json", atomically: true, encoding: .utf8)
            let manifest = try ImageMetadata.read(directory: "\(dir)/0")
            #expect(manifest.rootfs == nil)
            #expect(manifest.recipeSHA256 == nil)
            #expect(manifest.packages == ["bash 5.2"])
            #expect(manifest.files == ["vmlinux": "aa", "initrd.img": "bb"])
            try "k".write(toFile: "\(dir)/0/vmlinux", atomically: true, encoding: .utf8)
            try "i".write(toFile: "\(dir)/0/initrd.img", atomically: true, encoding: .utf8)
            #expect(try BuildImage(index: 0, directory: "\(dir)/0").bootFiles == ["vmlinux", "initrd.img"])
        }
    }

    @Test func theProjectsImage0ManifestReads() throws {
        guard FileManager.default.fileExists(atPath: "\(Repository.images)/0/image.json") else { return }
        let manifest = try ImageMetadata.read(directory: "\(Repository.images)/0")
        #expect(manifest.index == 0)
        #expect(manifest.files?.keys.sorted() == ["initrd.img", "vmlinux"])
    }

    @Test func packageListsAreSortedLines() async throws {
        try await withTemporaryDirectory { dir in
            try ImageMetadata.writePackageList(["make 4.3", "bash 5.2", "gcc 12"], to: "\(dir)/packages.txt")
            #expect(try String(contentsOfFile: "\(dir)/packages.txt", encoding: .utf8) == "bash 5.2\ngcc 12\nmake 4.3\n")
            #expect(try ImageMetadata.readPackageList("\(dir)/packages.txt") == ["bash 5.2", "gcc 12", "make 4.3"])
        }
    }

    @Test func buildInfoIsParsed() {
        let info = BuildInfo.parse("kernel_version=6.1.0-56-amd64\nmodules=a b\npackage=bash 5.2\npackage=tar 1.34\n")
        #expect(info.kernelVersion == "6.1.0-56-amd64")
        #expect(info.values["modules"] == "a b")
        #expect(info.packages == ["bash 5.2", "tar 1.34"])
    }
}
