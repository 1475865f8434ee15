import ConstruirSystem
import Foundation
import Runner

/// Reading and writing the files that describe an image: `image.json` (`BuildImage.Manifest`),
/// the root filesystem's package list, and the image's section of `images/README.md`.
public enum ImageMetadata {
    public static let manifestName = "image.json"
    public static let rootfsPackagesName = "packages.txt"

    public static func read(directory: String) throws -> BuildImage.Manifest {
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
    public static func encode(_ manifest: BuildImage.Manifest) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(manifest)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    /// Writes `image.json` atomically (a temporary file renamed into place).
    public static func write(_ manifest: BuildImage.Manifest, directory: String) throws {
        try writeAtomically(try encode(manifest), to: "\(directory)/\(manifestName)")
    }

    /// `"name version"` lines, sorted, one a line.
    public static func writePackageList(_ packages: [String], to path: String) throws {
        try writeAtomically(Data((packages.sorted().joined(separator: "\n") + "\n").utf8), to: path)
    }

    public static func readPackageList(_ path: String) throws -> [String] {
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

    // MARK: README

    public static func sectionBegin(_ index: Int) -> String { "<!-- image\(index):begin (written by construir image build) -->" }
    public static func sectionEnd(_ index: Int) -> String { "<!-- image\(index):end -->" }

    /// `readme` with the section of image `index` (between its markers) replaced by `section`,
    /// or `section` appended when the markers are not there yet. Markers written by
    /// build-image0.sh (`<!-- image0:begin (written by build-image0.sh) -->`) count too.
    public static func replacingSection(of index: Int, in readme: String, with section: String) -> String {
        let begin = "<!-- image\(index):begin"
        let end = sectionEnd(index)
        var lines = readme.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        let body = section.hasSuffix("\n") ? String(section.dropLast()) : section
        let block = [sectionBegin(index)] + body.components(separatedBy: "\n") + [end]
        if let start = lines.firstIndex(where: { $0.hasPrefix(begin) }),
           let stop = lines[start...].firstIndex(where: { $0.hasPrefix(end) }) {
            lines.replaceSubrange(start...stop, with: block)
        } else {
            if lines.last.map({ !$0.isEmpty }) ?? false { lines.append("") }
            lines += block
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The README section describing a built rootfs image.
    public static func readmeSection(recipe: ImageRecipe, manifest: BuildImage.Manifest, sizes: [String: Int64],
                                     installedPackages: Int) -> String {
        var text = "## Image \(manifest.index)\n\n"
        text += "\(manifest.description)\n\n"
        text += "- recipe: [`recipes/\(recipe.index).yml`](recipes/\(recipe.index).yml) (kind `\(recipe.kind.rawValue)`), recipe sha256 `\(manifest.recipeSHA256 ?? "-")`\n"
        if let version = manifest.kernelVersion { text += "- kernel: `\(version)`\n" }
        text += "- kernel command line: `\(manifest.cmdline)`\n"
        if let rootfs = recipe.rootfs {
            var format = rootfs.format.rawValue
            if let compression = rootfs.compression {
                format += ", \(compression)" + (rootfs.compressionLevel.map { " level \($0)" } ?? "")
            }
            text += "- root filesystem: `\(rootfs.fileName)` (\(format)), attached read-only as `construir-root`; "
            text += "modules loaded by the agent for it: \(recipe.initramfs.rootModules.joined(separator: " "))\n"
        }
        text += "- packages asked for: \(recipe.packages.map { "`\($0)`" }.joined(separator: ", "))"
        if let list = manifest.rootfsPackages {
            text += "; \(installedPackages) installed, listed in [`\(manifest.index)/\(list)`](\(manifest.index)/\(list))"
        }
        text += "\n\n"
        text += "| file | size (bytes) | sha256 |\n|---|---:|---|\n"
        for (name, sum) in (manifest.files ?? [:]).sorted(by: { $0.key < $1.key }) {
            text += "| `\(manifest.index)/\(name)` | \(sizes[name].map(String.init) ?? "?") | `\(sum)` |\n"
        }
        text += "\nOnly `image.json` and `\(manifest.rootfsPackages ?? ImageMetadata.rootfsPackagesName)` are committed (see `.gitignore`); "
        text += "rebuild the other files with `construir image build \(manifest.index)` "
        text += "(as root; needs `apt-get update` done once and the Debian mirrors). "
        text += "With the same package versions the build is reproducible and gives the sha256 values above; "
        text += "`construir image verify \(manifest.index)` checks the files against `image.json`.\n"
        return text
    }
}
