import Foundation
@testable import ImageBuilder
import JobModel

enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let images = "\(root)/images"
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A small fake image: files with short contents and an image.json recording their sha256.
@discardableResult
func makeFakeImage(in root: String, index: Int, rootfs: Bool = true, description: String = "a fake image",
                   recipeSHA256: String? = nil) throws -> BuildImage.Manifest {
    let directory = "\(root)/\(index)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var contents = ["vmlinux": "kernel \(index)", "initrd.img": "initramfs \(index)"]
    if rootfs {
        contents["rootfs.squashfs"] = "root filesystem \(index)"
        contents["packages.txt"] = "bash 5.2\nmake 4.3\n"
    }
    var files: [String: String] = [:]
    for (name, text) in contents {
        try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        files[name] = try BuildImage.sha256(ofFile: "\(directory)/\(name)")
    }
    let manifest = BuildImage.Manifest(
        index: index, description: description, protocol: 1, kernel: "vmlinux", initrd: "initrd.img",
        rootfs: rootfs ? "rootfs.squashfs" : nil, cmdline: "console=ttyS0", kernelVersion: "6.1.0-test",
        packages: ["linux-image-6.1.0-test 6.1"], rootfsPackages: rootfs ? "packages.txt" : nil,
        recipeSHA256: recipeSHA256, files: files)
    try ImageMetadata.write(manifest, directory: directory)
    return manifest
}

/// Collects what a BuildProgress writes.
final class Transcript: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [String] = []
    func append(_ text: String) { lock.lock(); chunks.append(text); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return chunks.joined() }
}
