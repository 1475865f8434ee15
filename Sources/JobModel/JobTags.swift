import ConstruirSystem

/// What a job asks of the runner that runs it (`tags:` in job/construir.yml), and what a runner
/// has: BYA's host tags. A job runs only on a runner that has every tag it asks for.
///
/// A runner's tags are its automatic ones (`arch:x86_64`, `accel:kvm` or `accel:tcg`,
/// `cpus:N`, `memory:NG`), its own (`run --tag NAME`), and, on a hub, the ones the hub grants
/// its token (`hub token add --tag owner:alice`). The prefixes of the automatic and granted
/// tags are reserved: a runner cannot give itself `owner:alice` or claim `accel:kvm`.
package enum JobTags {
    /// More than this is no requirement but a list of wishes.
    package static let maxTags = 32
    package static let maxLength = 64
    /// `PREFIX:` of tags a runner cannot give itself.
    package static let reservedPrefixes = ["arch", "accel", "cpus", "memory", "owner"]
    /// The tags only a hub grants (a runner's claim of one is ignored): whose machines these are.
    package static let ownerPrefix = "owner:"

    /// Why `tag` is not one; nil when it is. A tag is 1 to 64 of `A-Z a-z 0-9 . _ : -`,
    /// starting with a letter or digit.
    package static func problem(with tag: String) -> String? {
        let allowed = tag.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_:".unicodeScalars.contains($0))
        }
        guard let first = tag.unicodeScalars.first, allowed, tag.utf8.count <= maxLength,
              first.properties.isAlphabetic || ("0"..."9").contains(first) else {
            return "'\(tag)' is not a tag (1 to \(maxLength) of A-Z a-z 0-9 . _ : -, starting with a letter or digit)"
        }
        return nil
    }

    /// Throws `.invalidArgument` for the first of `tags` that is not a tag, naming `option`.
    package static func check(_ tags: [String], option: String = "--tag") throws(ConstruirError) {
        for tag in tags {
            if let problem = problem(with: tag) { throw ConstruirError(.invalidArgument, "\(option): \(problem)") }
        }
    }

    /// Whether a runner may not give itself `tag` (only the runner itself, or a hub, sets it).
    package static func isReserved(_ tag: String) -> Bool {
        guard let colon = tag.firstIndex(of: ":") else { return false }
        return reservedPrefixes.contains(String(tag[..<colon]))
    }

    /// The tags of `required` that `have` lacks, in order.
    package static func missing(_ required: [String], from have: Set<String>) -> [String] {
        required.filter { !have.contains($0) }
    }
}
