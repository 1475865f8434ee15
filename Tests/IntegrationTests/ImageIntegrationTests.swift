import Foundation
import Logging
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

extension VMSuites {
/// Build image 1 (Debian with a toolchain on a read-only root disk) in real VMs. Needs
/// `construir image build 1` to have been run (.ci/run does).
@Suite(.serialized) struct ImageIntegrationTests {
    static let imagesDirectory = "\(RunnerIntegrationTests.repository)/images"

    private func requireImage(_ index: Int) throws -> BuildImage {
        guard FileManager.default.fileExists(atPath: "\(Self.imagesDirectory)/\(index)/image.json") else {
            throw ConstruirTestError("build image \(index) is missing: run `construir image build \(index)` first")
        }
        return try ImageStore(root: Self.imagesDirectory).image(index)
    }

    /// sha256 of every file in the image directory.
    private func hashes(of directory: String) throws -> [String: String] {
        var hashes: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            hashes[name] = try BuildImage.sha256(ofFile: "\(directory)/\(name)")
        }
        return hashes
    }

    private func runQueue(in dir: String, images: String, timeout: Duration, memoryMiB: Int) async throws {
        try await makeTestRunner(in: dir, images: images, timeout: timeout, memoryMiB: memoryMiB).run()
    }

    private func result(_ path: String) throws -> JobResult { try readResult(path) }

    @Test(.enabled(if: BuiltImages.available(1), "build image 1 is not built: construir image build 1 (scripts/test builds it)"))
    func aCProjectCompilesInImage1AndItsBinaryRunsOnTheHost() async throws {
        let image = try requireImage(1)
        #expect(image.manifest.rootfs != nil)
        let imageDirectory = "\(Self.imagesDirectory)/1"
        let before = try hashes(of: imageDirectory)
        try await withTemporaryDirectory { dir in
            // A small Makefile project, and a job script that builds it, checks what it runs on,
            // scribbles over the root filesystem and writes the binary as its output.
            let project = "\(dir)/project/job"
            try FileManager.default.createDirectory(atPath: project, withIntermediateDirectories: true)
            try """
            #include <stdio.h>
            #include "greeting.h"
            int main(void) { printf("%s, %d\\n", GREETING, 6 * 7); return 0; }
            """.write(toFile: "\(project)/main.c", atomically: true, encoding: .utf8)
            try "#define GREETING \"hello from construir image 1\"\n"
                .write(toFile: "\(project)/greeting.h", atomically: true, encoding: .utf8)
            try "greet: main.c greeting.h\n\tcc -O2 -Wall -o greet main.c\n"
                .write(toFile: "\(project)/Makefile", atomically: true, encoding: .utf8)
            try """
            set -eu
            echo "image: $(cat /etc/construir-image)"
            gcc --version | head -n 1
            cmake --version | head -n 1
            make
            ./greet
            # The root filesystem is writable for the job (the overlay) but the image is not.
            echo scribbled > /etc/construir-image
            rm -f /usr/bin/cmake
            tar -cJf /dev/sdb greet
            """.write(toFile: "\(project)/construir", atomically: true, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let (status, _) = try await runTool(["\(RunnerIntegrationTests.repository)/jobs/make-job.sh", "\(dir)/project",
                                           "\(dir)/queue/cproject_i1.tar.xz"])
            try #require(status == 0)

            try await runQueue(in: dir, images: Self.imagesDirectory, timeout: .seconds(600), memoryMiB: 1024)

            let done = "\(dir)/done/cproject"
            let result = try result(done)
            let console = (try? String(contentsOfFile: "\(done)/console.log", encoding: .utf8)) ?? ""
            #expect(result.status == .passed, "\(result)\n\(console)")
            #expect(result.exitCode == 0)
            #expect(result.image?.index == 1)
            #expect(result.image?.sha256 == (try image.digest()))
            #expect((result.durations.boot ?? 0) > 0)
            // The job ran in image 1's root filesystem, not in the initramfs.
            #expect(console.contains("root: /dev/vd"))
            #expect(console.contains("image: 1"))
            #expect(console.contains("gcc (Debian 12."))
            #expect(console.contains("hello from construir image 1, 42"))

            // The binary came back and runs here.
            let binary = "\(done)/output/greet"
            #expect(FileManager.default.isExecutableFile(atPath: binary))
            let (exit, output) = try await runTool([binary])
            #expect(exit == 0)
            #expect(output == "hello from construir image 1, 42\n")
        }
        // The job's writes went to the overlay: image 1 is byte for byte what it was.
        #expect(try hashes(of: imageDirectory) == before)
    }

    @Test func theRunnerRefusesAnImageWhoseFilesNoLongerMatch() async throws {
        _ = try requireImage(0)
        try await withTemporaryDirectory { dir in
            // A copy of image 0 whose initramfs lost its last byte.
            let images = "\(dir)/images"
            try FileManager.default.createDirectory(atPath: "\(images)/0", withIntermediateDirectories: true)
            for name in ["image.json", "initrd.img"] {
                try FileManager.default.copyItem(atPath: "\(Self.imagesDirectory)/0/\(name)", toPath: "\(images)/0/\(name)")
            }
            try FileManager.default.createSymbolicLink(atPath: "\(images)/0/vmlinux", withDestinationPath: "\(Self.imagesDirectory)/0/vmlinux")
            let initrd = "\(images)/0/initrd.img"
            let size = try #require(FileManager.default.attributesOfItem(atPath: initrd)[.size] as? Int)
            try #require(truncate(initrd, off_t(size - 1)) == 0)

            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let (status, _) = try await runTool(["\(RunnerIntegrationTests.repository)/jobs/make-job.sh",
                                           "\(RunnerIntegrationTests.repository)/jobs/hello", "\(dir)/queue/hello_i0.tar.xz"])
            try #require(status == 0)
            try await runQueue(in: dir, images: images, timeout: .seconds(120), memoryMiB: 256)

            let result = try result("\(dir)/done/hello")
            #expect(result.status == .error)
            #expect(result.error?.contains("build image 0 does not match its image.json") == true, "\(result.error ?? "")")
            #expect(result.error?.contains("initrd.img has sha256") == true)
            #expect(result.durations.vm == nil)  // never booted
        }
    }
}
}
