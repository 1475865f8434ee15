import ConstruirSystem
import Crypto
import Foundation

/// A bootable build image: `images/N/` holding a kernel, an initramfs, optionally a root
/// filesystem image, and `image.json`. Jobs pick one by index; the runner only ever reads these
/// files.
public struct BuildImage: Sendable, Equatable {
    /// The guest protocol of the agent images are built with now (docs/guest-protocol.md):
    /// 2 added stages, 3 warm VMs; the runner still boots older images cold, and images of
    /// protocol 1 for jobs without stages.
    public static let guestProtocol = 3

    /// The first protocol whose agent waits for a hand-over (`construir.warm=1`).
    public static let warmProtocol = 3

    /// `image.json`, written by the image build (`construir image build N`).
    public struct Manifest: Codable, Sendable, Equatable {
        public var index: Int
        public var description: String
        public var `protocol`: Int
        public var kernel: String
        public var initrd: String?
        /// The root filesystem image, attached read-only as the disk `construir-root`.
        public var rootfs: String?
        public var cmdline: String
        public var kernelVersion: String?
        /// `"name version"` of the Debian packages the kernel and initramfs were made from.
        public var packages: [String]?
        /// The file listing the root filesystem's installed packages (`dpkg-query -W`).
        public var rootfsPackages: String?
        /// sha256 over the recipe and build inputs the image was made from.
        public var recipeSHA256: String?
        /// sha256 of every file of the image (file name → hex digest).
        public var files: [String: String]?

        enum CodingKeys: String, CodingKey {
            case index, description, `protocol`, kernel, initrd, rootfs, cmdline, packages, files
            case kernelVersion = "kernel_version"
            case rootfsPackages = "rootfs_packages"
            case recipeSHA256 = "recipe_sha256"
        }

        public init(index: Int, description: String, protocol: Int, kernel: String, initrd: String?,
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
    public struct Verification: Sendable, Equatable {
        public struct File: Sendable, Equatable {
            public var name: String
            /// What image.json records; nil when it records nothing for this file.
            public var expected: String?
            /// The file's sha256 now; nil when it cannot be read.
            public var actual: String?
            public var size: Int64?
            public var matches: Bool { expected != nil && expected == actual }

            public init(name: String, expected: String?, actual: String?, size: Int64?) {
                self.name = name
                self.expected = expected
                self.actual = actual
                self.size = size
            }
        }

        public var files: [File]
        /// The image digest (see `BuildImage.digest()`), when every boot file could be read.
        public var digest: String?
        public var isValid: Bool { !files.isEmpty && files.allSatisfy(\.matches) }

        public init(files: [File], digest: String?) {
            self.files = files
            self.digest = digest
        }
        public var size: Int64 { files.reduce(0) { $0 + ($1.size ?? 0) } }

        /// One line per file that does not match, for errors.
        public var problems: [String] {
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
    public static let manifestName = "image.json"

    public let index: Int
    public let directory: String
    public let manifest: Manifest

    public var kernelPath: String { "\(directory)/\(manifest.kernel)" }
    public var initrdPath: String? { manifest.initrd.map { "\(directory)/\($0)" } }
    public var rootfsPath: String? { manifest.rootfs.map { "\(directory)/\($0)" } }

    /// Every file the VM reads, in a stable order.
    public var bootFiles: [String] {
        [manifest.kernel] + (manifest.initrd.map { [$0] } ?? []) + (manifest.rootfs.map { [$0] } ?? [])
    }

    /// The files whose sha256 is checked: the boot files and every file image.json records.
    public var verifiedFiles: [String] {
        Array(Set(bootFiles).union(manifest.files.map { Array($0.keys) } ?? [])).sorted()
    }

    public init(index: Int, directory: String) throws {
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
    public func digest() throws -> String {
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
    public func verify(sha256: (String) throws -> String = BuildImage.sha256(ofFile:)) -> Verification {
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
    public func verifiedDigest(sha256: (String) throws -> String = BuildImage.sha256(ofFile:)) throws -> String {
        let verification = verify(sha256: sha256)
        guard verification.isValid, let digest = verification.digest else {
            throw ConstruirError(.invalidArgument, "build image \(index) does not match its image.json, refusing to use it: \(verification.problems.joined(separator: "; ")) (rebuild it with `construir image build \(index)`)")
        }
        return digest
    }

    /// The sha256 of a file, streamed.
    public static func sha256(ofFile path: String) throws -> String {
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
