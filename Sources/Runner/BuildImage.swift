import ConstruirSystem
import Crypto
import Foundation

/// A bootable build image: `images/N/` holding a kernel, an initramfs and `image.json`.
/// Jobs pick one by index; the runner only ever reads these files.
public struct BuildImage: Sendable, Equatable {
    /// `image.json`, written by the image build script.
    public struct Manifest: Codable, Sendable, Equatable {
        public var index: Int
        public var description: String
        public var `protocol`: Int
        public var kernel: String
        public var initrd: String?
        public var cmdline: String
        public var kernelVersion: String?
        public var files: [String: String]?

        enum CodingKeys: String, CodingKey {
            case index, description, `protocol`, kernel, initrd, cmdline, files
            case kernelVersion = "kernel_version"
        }
    }

    public let index: Int
    public let directory: String
    public let manifest: Manifest

    public var kernelPath: String { "\(directory)/\(manifest.kernel)" }
    public var initrdPath: String? { manifest.initrd.map { "\(directory)/\($0)" } }

    /// Every file the VM reads, in a stable order.
    public var bootFiles: [String] { [manifest.kernel] + (manifest.initrd.map { [$0] } ?? []) }

    public init(index: Int, directory: String) throws {
        let manifestPath = "\(directory)/image.json"
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
            throw ConstruirError(.notFound, "build image \(index) is incomplete: \(directory)/\(file) is missing (rebuild it with images/build-image\(index).sh)")
        }
    }

    /// One digest for the whole image: sha256 over `sha256sum`-style lines of its boot files.
    public func digest() throws -> String {
        var lines = ""
        for file in bootFiles.sorted() {
            lines += "\(try Self.sha256(ofFile: "\(directory)/\(file)"))  \(file)\n"
        }
        return Self.hex(SHA256.hash(data: Data(lines.utf8)))
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
        return hex(hasher.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// The `images/` directory: build images by index.
public struct ImageStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    /// Indexes of the images present (directories `N/` with an image.json), sorted.
    public func availableIndexes() -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.compactMap { name in
            guard let index = Int(name), String(index) == name,
                  FileManager.default.fileExists(atPath: "\(root)/\(name)/image.json") else { return nil }
            return index
        }.sorted()
    }

    /// Image `index`, or an error naming the images that do exist.
    public func image(_ index: Int) throws -> BuildImage {
        let directory = "\(root)/\(index)"
        guard FileManager.default.fileExists(atPath: "\(directory)/image.json") else {
            let present = availableIndexes()
            let list = present.isEmpty ? "none (build one with images/build-image0.sh)" : present.map(String.init).joined(separator: ", ")
            throw ConstruirError(.notFound, "build image \(index) does not exist in \(root); available images: \(list)")
        }
        return try BuildImage(index: index, directory: directory)
    }
}
