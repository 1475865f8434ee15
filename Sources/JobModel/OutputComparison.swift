import Glibc

/// Which paths of a job's output its replicas are compared on: `compare:` in job/construir.yml.
///
/// A list of globs over the output's paths (relative, `/`-separated, `.` for the top). `*` and
/// `?` and `[...]` match within one path segment, `**` any number of segments. A pattern that
/// starts with `!` leaves out what it matches. The last pattern that matches a path decides, as
/// in .gitignore; a path no pattern matches is left out. What a job prints to its console is
/// never the same twice (timings, progress), so the default compares everything except the
/// console snapshot `job_output.txt` a packaged or stages job writes.
package struct OutputComparison: Sendable, Equatable, Codable {
    package var patterns: [String]

    package init(patterns: [String]) {
        self.patterns = patterns
    }

    /// Everything except the console snapshot.
    package static let `default` = OutputComparison(patterns: ["**", "!job_output.txt"])
    /// Every path.
    package static let everything = OutputComparison(patterns: ["**"])

    /// More patterns than this are a mistake, not a rule.
    package static let maxPatterns = 256

    /// Why `pattern` is not one; nil when it is.
    package static func problem(with pattern: String) -> String? {
        let glob = pattern.hasPrefix("!") ? String(pattern.dropFirst()) : pattern
        if glob.isEmpty { return "an empty pattern" }
        if glob.hasPrefix("/") { return "'\(pattern)' is absolute (patterns are relative to the output)" }
        if glob.utf8.contains(0) { return "'\(pattern)' contains a NUL byte" }
        if glob.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == ".." }) {
            return "'\(pattern)' has an empty or '..' segment"
        }
        return nil
    }

    /// Whether `path` (as `OutputDigest` names entries: no leading `./`, `.` for the top) is compared.
    package func includes(_ path: String) -> Bool {
        let segments = path == "." ? [] : path.split(separator: "/").map(String.init)
        var included = false
        for pattern in patterns {
            let negated = pattern.hasPrefix("!")
            let glob = (negated ? pattern.dropFirst() : pattern[...]).split(separator: "/").map(String.init)
            if Self.matches(glob[...], segments[...]) { included = !negated }
        }
        return included
    }

    private static func matches(_ glob: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = glob.first else { return path.isEmpty }
        if first == "**" {
            // Zero segments, or one more and try again.
            return matches(glob.dropFirst(), path) || (!path.isEmpty && matches(glob, path.dropFirst()))
        }
        guard let segment = path.first, fnmatch(first, segment, 0) == 0 else { return false }
        return matches(glob.dropFirst(), path.dropFirst())
    }
}
