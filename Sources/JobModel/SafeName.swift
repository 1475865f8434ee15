/// The one rule for names that become file or directory names (done/ directories, packaged job
/// files, running IDs): only `[A-Za-z0-9._-]`, which no shell, URL or terminal treats specially.
package enum SafeName {
    /// Whether `scalar` may appear in a safe name.
    package static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-".unicodeScalars.contains(scalar))
    }

    /// Whether every character of `name` is allowed (an empty name is, callers check that).
    package static func isSafe(_ name: String) -> Bool {
        name.unicodeScalars.allSatisfy(isAllowed)
    }

    /// `name` with every character that is not allowed replaced by `replacement`.
    package static func replacingUnsafe(_ name: String, with replacement: Character) -> String {
        String(name.unicodeScalars.map { isAllowed($0) ? Character($0) : replacement })
    }
}
