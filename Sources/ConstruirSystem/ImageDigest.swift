/// The text form of a build image digest (`BuildImage.digest()`): 64 lowercase hex digits.
/// The manifest parser and `construir package` share this check so that a pin a packager
/// accepts is one the runner accepts too.
package enum ImageDigest {
    package static let length = 64

    /// `text` if it is a digest as `construir image list` prints it; otherwise an
    /// `.invalidArgument` error that starts with `what` and shows what was given.
    package static func validated(_ text: String, what: String) throws(ConstruirError) -> String {
        guard isValid(text) else {
            let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
            throw ConstruirError(.invalidArgument, "\(what) must be \(length) lowercase hex digits (an image digest as `construir image list` shows it), not '\(shown)'")
        }
        return text
    }

    package static func isValid(_ text: String) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
