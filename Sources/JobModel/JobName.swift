import Foundation

/// What a queue file's name says: the job's name and which build image it wants.
/// `NAME_iN.tar.xz` selects image N; a plain `NAME.tar.xz` gets the runner's default image.
package struct JobName: Sendable, Equatable, CustomStringConvertible {
    package static let suffix = ".tar.xz"
    /// Longest accepted file name (bytes); a longer one is claimed and rejected.
    package static let maxFileNameLength = 200

    /// The file name in the queue, e.g. `hello_i0.tar.xz`.
    package let fileName: String
    /// The name without the image selector and suffix, e.g. `hello`.
    package let name: String
    /// The image the name asks for, nil when it names none.
    package let requestedImage: Int?

    /// The file name that `init(fileName:)` parses back to `name` and `image`: `NAME_iN.tar.xz`,
    /// or `NAME.tar.xz` for the runner's default image. `construir package` names its jobs so.
    package static func fileName(name: String, image: Int?) -> String {
        image.map { "\(name)_i\($0)\(suffix)" } ?? "\(name)\(suffix)"
    }

    /// A job name made from free text (a repository's directory name): safe characters
    /// (`SafeName`), others turned into `-`, no leading dot (the runner ignores dotfiles), and
    /// `fallback` when nothing is left.
    package static func sanitize(_ text: String, fallback: String = "repo") -> String {
        var out = SafeName.replacingUnsafe(text, with: "-")
        while out.hasPrefix(".") { out.removeFirst() }
        return out.isEmpty ? fallback : out
    }

    /// Parses a queue file name; nil for files that are not jobs (dotfiles, other suffixes).
    /// A name that is a job but a bad one (see `problem`) still parses, so that the runner can
    /// claim it and reject it with a reason instead of leaving it in the queue forever.
    package init?(fileName: String) {
        guard !fileName.hasPrefix("."), fileName.hasSuffix(Self.suffix), !fileName.contains("/") else { return nil }
        let stem = String(fileName.dropLast(Self.suffix.count))
        guard !stem.isEmpty else { return nil }
        self.fileName = fileName
        if let marker = stem.range(of: "_i", options: .backwards),
           case let digits = stem[marker.upperBound...],
           !digits.isEmpty, digits.count <= 6, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
           marker.lowerBound != stem.startIndex {
            self.name = String(stem[..<marker.lowerBound])
            self.requestedImage = Int(digits)
        } else {
            self.name = stem
            self.requestedImage = nil
        }
    }

    /// Why this name cannot be accepted, or nil: control characters (they break logs, terminals
    /// and scripts that read done/) or more than `maxFileNameLength` bytes.
    package var problem: String? {
        if fileName.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            return "the job file name contains control characters"
        }
        if fileName.utf8.count > Self.maxFileNameLength {
            return "the job file name is longer than \(Self.maxFileNameLength) bytes"
        }
        return nil
    }

    /// The image to use: the requested one, or `defaultImage`.
    package func image(default defaultImage: Int) -> Int { requestedImage ?? defaultImage }

    /// The name made safe for a directory in done/: only `[A-Za-z0-9._-]`, no leading dot.
    package var safeName: String {
        var out = SafeName.replacingUnsafe(name, with: "_")
        if out.hasPrefix(".") { out = "_" + out.dropFirst() }
        if out.count > 100 { out = String(out.prefix(100)) }
        return out.isEmpty ? "job" : out
    }

    package var description: String { fileName }
}
