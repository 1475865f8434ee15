import ConstruirSystem
import Foundation
import JobModel

/// The images of an images directory, for `construir image list` and `construir image verify`.
package struct ImageCatalog: Sendable {
    package struct Entry: Sendable, Equatable {
        package enum State: Sendable, Equatable {
            /// Every file matches image.json.
            case verified
            /// Some file does not match (the problems, one per file).
            case mismatch([String])
            /// image.json is missing or unreadable, or the image is incomplete.
            case broken(String)
            /// Only a recipe exists.
            case notBuilt
        }

        package var index: Int
        package var description: String
        package var size: Int64?
        /// `BuildImage.digest()`, the value a job pins with `image_digest`.
        package var digest: String?
        package var state: State
        package var verification: BuildImage.Verification?
        /// `"name version"` of the Debian packages the kernel and initramfs were made from.
        package var packages: [String] = []
        /// The root filesystem's installed packages, for images that have one.
        package var rootfsPackages: [String]?
    }

    package let root: String

    package init(root: String) { self.root = root }

    /// Indexes with a built image (`N/image.json`) or a recipe (`recipes/N.yml`).
    package func indexes() -> [Int] {
        var indexes = Set(ImageStore(root: root).availableIndexes())
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/recipes")) ?? [] where name.hasSuffix(".yml") {
            if let index = ImageStore.index(named: String(name.dropLast(4))) { indexes.insert(index) }
        }
        return indexes.sorted()
    }

    /// Image `index`, its files hashed and checked against its image.json.
    package func entry(_ index: Int) -> Entry {
        let directory = "\(root)/\(index)"
        guard FileManager.default.fileExists(atPath: "\(directory)/\(ImageMetadata.manifestName)") else {
            let description = (try? ImageRecipe.load(path: "\(root)/recipes/\(index).yml").description) ?? ""
            return Entry(index: index, description: description, size: nil, digest: nil, state: .notBuilt, verification: nil)
        }
        let image: BuildImage
        do {
            image = try BuildImage(index: index, directory: directory)
        } catch {
            let description = (try? ImageMetadata.read(directory: directory).description) ?? ""
            return Entry(index: index, description: description, size: nil, digest: nil, state: .broken("\(error)"), verification: nil)
        }
        let verification = image.verify()
        return Entry(index: index, description: image.manifest.description, size: verification.size,
                     digest: verification.digest,
                     state: verification.isValid ? .verified : .mismatch(verification.problems),
                     verification: verification, packages: image.manifest.packages ?? [],
                     rootfsPackages: image.manifest.rootfsPackages.flatMap { try? ImageMetadata.readPackageList("\(directory)/\($0)") })
    }

    package func entries() -> [Entry] { indexes().map(entry) }

    /// The table `construir image list` prints.
    package static func formatList(_ entries: [Entry]) -> String {
        var rows = [["IMAGE", "SIZE", "VERIFIED", "DIGEST", "DESCRIPTION"]]
        for entry in entries {
            let verified: String
            switch entry.state {
            case .verified: verified = "yes"
            case .mismatch: verified = "NO"
            case .broken: verified = "broken"
            case .notBuilt: verified = "not built"
            }
            rows.append([String(entry.index), entry.size.map(formatSize) ?? "-", verified, entry.digest ?? "-",
                         entry.description])
        }
        var widths = [Int](repeating: 0, count: 4)
        for row in rows { for column in 0..<4 { widths[column] = max(widths[column], row[column].count) } }
        var text = ""
        for row in rows {
            var line = ""
            for column in 0..<4 { line += row[column].padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0) }
            text += line + row[4] + "\n"
        }
        for entry in entries {
            switch entry.state {
            case let .mismatch(problems): text += problems.map { "image \(entry.index): \($0)\n" }.joined()
            case let .broken(reason): text += "image \(entry.index): \(reason)\n"
            default: break
            }
        }
        return text
    }

    /// The package sets `construir image list --packages` prints after the table, one
    /// `"name version"` a line under a header per image: two images whose digests differ can be
    /// told apart by diffing this output from both machines.
    package static func formatPackages(_ entries: [Entry]) -> String {
        var text = ""
        for entry in entries where entry.state != .notBuilt {
            text += "\nimage \(entry.index) (digest \(entry.digest ?? "-")): kernel and initramfs packages\n"
            text += entry.packages.map { "  \($0)\n" }.joined()
            if let rootfs = entry.rootfsPackages {
                text += "image \(entry.index) (digest \(entry.digest ?? "-")): root filesystem packages (\(rootfs.count))\n"
                text += rootfs.map { "  \($0)\n" }.joined()
            }
        }
        return text
    }

    /// The report `construir image verify` prints for one image.
    package static func formatVerification(_ entry: Entry) -> String {
        switch entry.state {
        case .notBuilt: return "image \(entry.index): not built\n"
        case let .broken(reason): return "image \(entry.index): BROKEN: \(reason)\n"
        case .verified, .mismatch:
            var text = "image \(entry.index): " + (entry.state == .verified ? "ok" : "MISMATCH") + "\n"
            for file in entry.verification?.files ?? [] {
                let status: String
                switch (file.expected, file.actual) {
                case (nil, _): status = "no sha256 recorded in image.json"
                case (_, nil): status = "MISSING"
                case let (expected?, actual?): status = expected == actual ? "ok" : "MODIFIED (sha256 \(actual), image.json records \(expected))"
                }
                text += "  \(file.name)  \(file.size.map(String.init) ?? "-") bytes  \(file.actual ?? "-")  \(status)\n"
            }
            return text
        }
    }

    /// 1.5 KiB, 71.4 MiB, 1.2 GiB.
    package static func formatSize(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
