import ConstruirSystem
import Crypto
import Foundation

/// A bootable build image: `images/N/` holding a kernel, an initramfs, optionally a root
/// filesystem image, and `image.json`. Jobs pick one by index; the runner only ever reads these
/// files.
package struct BuildImage: Sendable, Equatable {
    /// The guest protocol of the agent images are built with now (docs/guest-protocol.md):
    /// 2 added stages, 3 warm VMs; the runner still boots older images cold, and images of
    /// protocol 1 for jobs without stages.
    package static let guestProtocol = 4

    /// The first protocol whose agent waits for a hand-over (`construir.warm=1`).
    package static let warmProtocol = 3

    /// `image.json`, written by the image build (`construir image build N`).
    package struct Manifest: Codable, Sendable, Equatable {
        package var index: Int
        package var description: String
        package var `protocol`: Int
        package var kernel: String
        package var initrd: String?
        /// The root filesystem image, attached read-only as the disk `construir-root`.
        package var rootfs: String?
        package var cmdline: String
        package var kernelVersion: String?
        /// `"name version"` of the Debian packages the kernel and initramfs were made from.
        package var packages: [String]?
        /// The file listing the root filesystem's installed packages (`dpkg-query -W`).
        package var rootfsPackages: String?
        /// sha256 over the recipe and build inputs the image was made from.
        package var recipeSHA256: String?
        /// sha256 of every file of the image (file name → hex digest).
        package var files: [String: String]?

        enum CodingKeys: String, CodingKey {
            case index, description, `protocol`, kernel, initrd, rootfs, cmdline, packages, files
            case kernelVersion = "kernel_version"
            case rootfsPackages = "rootfs_packages"
            case recipeSHA256 = "recipe_sha256"
        }

        package init(index: Int, description: String, protocol: Int, kernel: String, initrd: String?,
                    rootfs: String? = nil, cmdline: String, kernelVersion: String? = nil,
                    packages: [String]? = nil, rootfsPackages: String? = nil, recipeSHA256: String? = nil,
                    files: [String: String]? = nil) {
            self.index = index
            self.description = description
            self.protocol = `protocol`
            self.kernel = kernel
            self.initrd = initrd
            self.rootfs = rootfs
            self.cmdline = cmdline
            self.kernelVersion = kernelVersion
            self.packages = packages
            self.rootfsPackages = rootfsPackages
            self.recipeSHA256 = recipeSHA256
            self.files = files
        }
    }

    /// The outcome of checking an image's files against the sha256 values in its image.json.
    package struct Verification: Sendable, Equatable {
        package struct File: Sendable, Equatable {
            package var name: String
            /// What image.json records; nil when it records nothing for this file.
            package var expected: String?
            /// The file's sha256 now; nil when it cannot be read.
            package var actual: String?
            package var size: Int64?
            package var matches: Bool { expected != nil && expected == actual }

            package init(name: String, expected: String?, actual: String?, size: Int64?) {
                self.name = name
                self.expected = expected
                self.actual = actual
                self.size = size
            }
        }

        package var files: [File]
        /// The image digest (see `BuildImage.digest()`), when every boot file could be read.
        package var digest: String?
        package var isValid: Bool { !files.isEmpty && files.allSatisfy(\.matches) }

        package init(files: [File], digest: String?) {
            self.files = files
            self.digest = digest
        }
        package var size: Int64 { files.reduce(0) { $0 + ($1.size ?? 0) } }

        /// One line per file that does not match, for errors.
        package var problems: [String] {
            files.filter { !$0.matches }.map { file in
                switch (file.expected, file.actual) {
                case (nil, _): "\(file.name) has no sha256 in image.json"
                case (_, nil): "\(file.name) is missing or unreadable"
                case let (expected?, actual?): "\(file.name) has sha256 \(actual), image.json records \(expected)"
                }
            }
        }
    }

    /// The manifest's name in the image's directory.
    package static let manifestName = "image.json"

    package let index: Int
    package let directory: String
    package let manifest: Manifest

    package var kernelPath: String { "\(directory)/\(manifest.kernel)" }
    package var initrdPath: String? { manifest.initrd.map { "\(directory)/\($0)" } }
    package var rootfsPath: String? { manifest.rootfs.map { "\(directory)/\($0)" } }

    /// Every file the VM reads, in a stable order.
    package var bootFiles: [String] {
        [manifest.kernel] + (manifest.initrd.map { [$0] } ?? []) + (manifest.rootfs.map { [$0] } ?? [])
    }

    /// The files whose sha256 is checked: the boot files and every file image.json records.
    package var verifiedFiles: [String] {
        Array(Set(bootFiles).union(manifest.files.map { Array($0.keys) } ?? [])).sorted()
    }

    package init(index: Int, directory: String) throws {
        let manifestPath = "\(directory)/\(Self.manifestName)"
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw ConstruirError(.notFound, "build image \(index) has no \(manifestPath)")
        }
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw ConstruirError(.invalidArgument, "build image \(index): \(manifestPath) is not valid", cause: error)
        }
        self.index = index
        self.directory = directory
        for file in bootFiles where !FileManager.default.fileExists(atPath: "\(directory)/\(file)") {
            throw ConstruirError(.notFound, "build image \(index) is incomplete: \(directory)/\(file) is missing (rebuild it with `construir image build \(index)`)")
        }
    }

    /// One digest for the whole image: sha256 over `sha256sum`-style lines (`HASH  NAME\n`, sorted
    /// by name) of its boot files: kernel, initramfs, root filesystem. It names the bytes a VM
    /// boots, where an index only names a recipe whose Debian packages move on; `image list`
    /// shows it, results record it, and a job pins it with `image_digest`. image.json (and with
    /// it the kernel command line) is not part of it.
    package func digest() throws -> String {
        var sums: [String: String] = [:]
        for file in bootFiles { sums[file] = try Self.sha256(ofFile: "\(directory)/\(file)") }
        return digest(bootFileSums: sums)
    }

    func digest(bootFileSums sums: [String: String]) -> String {
        var lines = ""
        for file in bootFiles.sorted() { lines += "\(sums[file] ?? "")  \(file)\n" }
        return Hex.sha256(lines)
    }

    /// Hashes every file in `verifiedFiles` and compares it with image.json. An image.json
    /// without `files` (older images) records nothing, so nothing can match.
    ///
    /// - Parameter sha256: the hash of a file by path; the runner passes one that remembers
    ///   the hashes of unchanged files (`FileDigestStore`).
    package func verify(sha256: (String) throws -> String = BuildImage.sha256(ofFile:)) -> Verification {
        var files: [Verification.File] = []
        var sums: [String: String] = [:]
        for name in verifiedFiles {
            let path = "\(directory)/\(name)"
            let actual = try? sha256(path)
            sums[name] = actual
            files.append(.init(name: name, expected: manifest.files?[name], actual: actual,
                               size: try? FileSystem.size(of: path)))
        }
        let complete = bootFiles.allSatisfy { sums[$0] != nil }
        return Verification(files: files, digest: complete ? digest(bootFileSums: sums) : nil)
    }

    /// The image digest, after checking every file against image.json; throws, naming the
    /// files, when one does not match (the runner then refuses the job).
    package func verifiedDigest(sha256: (String) throws -> String = BuildImage.sha256(ofFile:)) throws -> String {
        let verification = verify(sha256: sha256)
        guard verification.isValid, let digest = verification.digest else {
            throw ConstruirError(.invalidArgument, "build image \(index) does not match its image.json, refusing to use it: \(verification.problems.joined(separator: "; ")) (rebuild it with `construir image build \(index)`)")
        }
        return digest
    }

    /// The sha256 of a file, streamed.
    package static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConstruirError(.notFound, "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return Hex.string(hasher.finalize())
    }

}
