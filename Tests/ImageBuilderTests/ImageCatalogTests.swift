import Foundation
import Testing
import TestSupport
@testable import ImageBuilder
import JobModel

@Suite struct ImageCatalogTests {
    @Test func anIntactImageVerifies() async throws {
        try await withTemporaryDirectory { dir in
            try makeFakeImage(in: dir, index: 1)
            let entry = ImageCatalog(root: dir).entry(1)
            #expect(entry.state == .verified)
            #expect(entry.digest == (try BuildImage(index: 1, directory: "\(dir)/1").digest()))
            #expect(entry.size == Int64("kernel 1".utf8.count + "initramfs 1".utf8.count
                + "root filesystem 1".utf8.count + "bash 5.2\nmake 4.3\n".utf8.count))
            let report = ImageCatalog.formatVerification(entry)
            #expect(report.hasPrefix("image 1: ok\n"))
            #expect(report.components(separatedBy: "  ok\n").count == 5)
        }
    }

    @Test func verifyDetectsAModifiedFile() async throws {
        try await withTemporaryDirectory { dir in
            try makeFakeImage(in: dir, index: 1)
            // Same size, one byte different.
            try "root filesystem X".write(toFile: "\(dir)/1/rootfs.squashfs", atomically: false, encoding: .utf8)
            let image = try BuildImage(index: 1, directory: "\(dir)/1")
            let verification = image.verify()
            #expect(!verification.isValid)
            #expect(verification.files.filter { !$0.matches }.map(\.name) == ["rootfs.squashfs"])
            #expect(throws: (any Error).self) { try image.verifiedDigest() }
            let entry = ImageCatalog(root: dir).entry(1)
            guard case let .mismatch(problems) = entry.state else { throw TestFailure("expected a mismatch, got \(entry.state)") }
            #expect(problems.count == 1)
            #expect(problems[0].hasPrefix("rootfs.squashfs has sha256 "))
            let report = ImageCatalog.formatVerification(entry)
            #expect(report.hasPrefix("image 1: MISMATCH\n"))
            #expect(report.contains("rootfs.squashfs  17 bytes"))
            #expect(report.contains("MODIFIED (sha256 "))
        }
    }

    @Test func verifyDetectsMissingFilesAndMissingHashes() async throws {
        try await withTemporaryDirectory { dir in
            // A file image.json lists is gone (not a boot file: the image still loads).
            try makeFakeImage(in: dir, index: 1)
            try FileManager.default.removeItem(atPath: "\(dir)/1/packages.txt")
            let missing = ImageCatalog(root: dir).entry(1)
            #expect(missing.state == .mismatch(["packages.txt is missing or unreadable"]))
            #expect(ImageCatalog.formatVerification(missing).contains("  packages.txt  - bytes  -  MISSING\n"))

            // A boot file is gone: the image is incomplete.
            try makeFakeImage(in: dir, index: 2)
            try FileManager.default.removeItem(atPath: "\(dir)/2/vmlinux")
            guard case let .broken(reason) = ImageCatalog(root: dir).entry(2).state else { throw TestFailure("expected broken") }
            #expect(reason.contains("vmlinux is missing"))

            // image.json records no hash for a boot file: nothing to check it against, so it does not verify.
            var manifest = try makeFakeImage(in: dir, index: 3)
            manifest.files?["initrd.img"] = nil
            try ImageMetadata.write(manifest, directory: "\(dir)/3")
            #expect(ImageCatalog(root: dir).entry(3).state == .mismatch(["initrd.img has no sha256 in image.json"]))
        }
    }

    @Test func listShowsEveryImageAndRecipe() async throws {
        try await withTemporaryDirectory { dir in
            try makeFakeImage(in: dir, index: 0, rootfs: false, description: "zero image")
            try makeFakeImage(in: dir, index: 1, description: "one image")
            try "initramfs 1 changed".write(toFile: "\(dir)/1/initrd.img", atomically: false, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: "\(dir)/recipes", withIntermediateDirectories: true)
            try ImageRecipeTests.valid.write(toFile: "\(dir)/recipes/4.yml", atomically: true, encoding: .utf8)
            try "not a recipe".write(toFile: "\(dir)/recipes/notes.txt", atomically: true, encoding: .utf8)

            let catalog = ImageCatalog(root: dir)
            #expect(catalog.indexes() == [0, 1, 4])
            let entries = catalog.entries()
            let text = ImageCatalog.formatList(entries)
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines[0].hasPrefix("IMAGE  SIZE"))
            #expect(lines[0].contains(" DIGEST "))
            #expect(lines[0].hasSuffix("DESCRIPTION"))
            let digest0 = try #require(entries[0].digest)
            #expect(lines[1].hasPrefix("0 "))
            #expect(lines[1].contains(" yes "))
            #expect(lines[1].contains(digest0))
            #expect(lines[1].hasSuffix("zero image"))
            #expect(lines[1].contains("\(("kernel 0".utf8.count + "initramfs 0".utf8.count)) B"))
            #expect(lines[2].hasPrefix("1 "))
            #expect(lines[2].contains(" NO "))
            #expect(lines[2].hasSuffix("one image"))
            #expect(lines[3].hasPrefix("4 "))
            #expect(lines[3].contains("not built"))
            #expect(lines[3].hasSuffix("A test image on two lines."))
            #expect(lines[4].hasPrefix("image 1: initrd.img has sha256 "))
            #expect(lines.count == 5)
            // The columns line up.
            let column = lines[0].range(of: "VERIFIED")!.lowerBound.utf16Offset(in: lines[0])
            for line in lines[1...3] {
                #expect(line.utf16.count > column)
                #expect(line[line.index(line.startIndex, offsetBy: column - 1)] == " ")
            }
        }
    }

    /// `image list` shows the digest a job pins, and `--packages` what went into each image, so
    /// that two machines' digests can be told apart.
    @Test func theDigestIsBuildImageDigestAndPackagesAreListed() async throws {
        try await withTemporaryDirectory { dir in
            try makeFakeImage(in: dir, index: 0, rootfs: false)
            try makeFakeImage(in: dir, index: 1)
            try FileManager.default.createDirectory(atPath: "\(dir)/recipes", withIntermediateDirectories: true)
            try ImageRecipeTests.valid.write(toFile: "\(dir)/recipes/4.yml", atomically: true, encoding: .utf8)
            let entries = ImageCatalog(root: dir).entries()
            for index in [0, 1] {
                let digest = try BuildImage(index: index, directory: "\(dir)/\(index)").digest()
                #expect(entries[index].digest == digest)
                #expect(ImageCatalog.formatList(entries).split(separator: "\n")[index + 1].contains(" \(digest) "))
            }
            let text = ImageCatalog.formatPackages(entries)
            let digest0 = try #require(entries[0].digest), digest1 = try #require(entries[1].digest)
            #expect(text == """

                image 0 (digest \(digest0)): kernel and initramfs packages
                  linux-image-6.1.0-test 6.1

                image 1 (digest \(digest1)): kernel and initramfs packages
                  linux-image-6.1.0-test 6.1
                image 1 (digest \(digest1)): root filesystem packages (2)
                  bash 5.2
                  make 4.3

                """)
        }
    }

    @Test func sizesAreHumanReadable() {
        #expect(ImageCatalog.formatSize(512) == "512 B")
        #expect(ImageCatalog.formatSize(1536) == "1.5 KiB")
        #expect(ImageCatalog.formatSize(74_885_920) == "71.4 MiB")
        #expect(ImageCatalog.formatSize(3 << 30) == "3.0 GiB")
    }
}
