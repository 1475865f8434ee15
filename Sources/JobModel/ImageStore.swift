import ConstruirSystem
import Foundation

/// The `images/` directory: build images by index.
package struct ImageStore: Sendable {
    package let root: String

    package init(root: String) { self.root = root }

    /// The index a name (`N`, the stem of `N.yml`) stands for: decimal digits as `String(N)`
    /// writes them, so `01` or `+1` is no image.
    package static func index(named name: String) -> Int? {
        guard let index = Int(name), String(index) == name else { return nil }
        return index
    }

    /// Indexes of the images present (directories `N/` with an image.json), sorted.
    package func availableIndexes() -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.compactMap { name in
            guard let index = Self.index(named: name),
                  FileManager.default.fileExists(atPath: "\(root)/\(name)/\(BuildImage.manifestName)") else { return nil }
            return index
        }.sorted()
    }

    /// Image `index`, or an error naming the images that do exist.
    package func image(_ index: Int) throws -> BuildImage {
        let directory = "\(root)/\(index)"
        guard FileManager.default.fileExists(atPath: "\(directory)/\(BuildImage.manifestName)") else {
            let present = availableIndexes()
            let list = present.isEmpty ? "none (build one with images/build-image0.sh)" : present.map(String.init).joined(separator: ", ")
            throw ConstruirError(.notFound, "build image \(index) does not exist in \(root); available images: \(list)")
        }
        return try BuildImage(index: index, directory: directory)
    }
}
