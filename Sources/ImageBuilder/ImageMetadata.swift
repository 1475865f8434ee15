import ConstruirSystem
import Foundation
import JobModel

/// Reading and writing the files that describe an image: `image.json` (`BuildImage.Manifest`)
/// and the root filesystem's package list. Both are generated into `images/N/` beside the files
/// they describe and are never committed: a rebuild against newer Debian packages must not
/// change a tracked file (which machine's record would be right?).
package enum ImageMetadata {
    package static let manifestName = BuildImage.manifestName
    package static let rootfsPackagesName = "packages.txt"

    package static func read(directory: String) throws -> BuildImage.Manifest {
        let path = "\(directory)/\(manifestName)"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConstruirError(.notFound, "\(path) not found")
        }
        do {
            return try JSONDecoder().decode(BuildImage.Manifest.self, from: data)
        } catch {
            throw ConstruirError(.invalidArgument, "\(path) is not a valid image.json", cause: error)
        }
    }

    /// The JSON text of a manifest: sorted keys, two-space indentation, a final newline.
    package static func encode(_ manifest: BuildImage.Manifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(manifest)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Writes `image.json` atomically (a temporary file renamed into place).
    package static func write(_ manifest: BuildImage.Manifest, directory: String) throws {
        try writeAtomically(try encode(manifest), to: "\(directory)/\(manifestName)")
    }

    /// `"name version"` lines, sorted, one a line.
    package static func writePackageList(_ packages: [String], to path: String) throws {
        try writeAtomically(Data((packages.sorted().joined(separator: "\n") + "\n").utf8), to: path)
    }

    package static func readPackageList(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConstruirError(.notFound, "\(path) not found")
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        do {
            try FileSystem.writeDurably(data, to: path)
        } catch {
            throw ConstruirError(.system, "cannot write \(path)", cause: error)
        }
    }
}
