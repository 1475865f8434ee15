import ConstruirSystem
import JobModel

/// Which branches or tags of a repository are watched: globs over their names (`main`,
/// `release/*`, `v*`), matched as `compare:` matches paths (`OutputComparison`): `*` within one
/// `/`-separated segment, `**` across segments, a leading `!` leaves out what it matches, the
/// last matching pattern decides.
package struct RefSelection: Sendable, Equatable {
    package let patterns: [String]
    private let matcher: OutputComparison

    /// Checks each pattern; `what` names the list for the error (`branches`, `tags`).
    package init(_ patterns: [String], what: String) throws(ConstruirError) {
        for pattern in patterns {
            if let problem = OutputComparison.problem(with: pattern) {
                throw ConstruirError(.invalidArgument, "\(what): \(problem)")
            }
            if let bad = pattern.first(where: { $0 == " " || $0 == "~" || $0 == "^" || $0 == ":" || $0 == "\\" }) {
                throw ConstruirError(.invalidArgument, "\(what): '\(pattern)' has '\(bad)', which no git ref name has")
            }
            if pattern.filter({ $0 == "[" }).count != pattern.filter({ $0 == "]" }).count {
                throw ConstruirError(.invalidArgument, "\(what): '\(pattern)' has an unclosed '['")
            }
        }
        self.patterns = patterns
        matcher = OutputComparison(patterns: patterns)
    }

    package static let none = try! RefSelection([], what: "none")

    package func matches(_ name: String) -> Bool { matcher.includes(name) }

    package static func == (lhs: RefSelection, rhs: RefSelection) -> Bool { lhs.patterns == rhs.patterns }
}
