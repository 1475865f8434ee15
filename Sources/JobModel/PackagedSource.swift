import ConstruirSystem
import Foundation

/// What a packaged job was made from: `job/source.json`, written by `construir package` and
/// `construir try`, and copied by the runner into result.json as `source`, so a result says
/// which commit it belongs to and whether uncommitted changes were part of the run.
///
/// ```json
/// {"commit": "1a2b…", "uncommitted_changes": true}
/// ```
///
/// The file comes with the job, so it is untrusted input: at most `maxBytes`, exactly these two
/// fields, a commit of 40 or 64 lowercase hex digits (SHA-1 or SHA-256 git); anything else
/// rejects the job, as a bad manifest does. It is a report of the submitter's, not a proof.
package struct PackagedSource: Codable, Sendable, Equatable {
    /// The commit the job's files come from; with `uncommittedChanges`, the one they are based on.
    package var commit: String
    /// The files are the working tree's (`construir try`), which differ from `commit`.
    package var uncommittedChanges: Bool

    package init(commit: String, uncommittedChanges: Bool) {
        self.commit = commit
        self.uncommittedChanges = uncommittedChanges
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case commit
        case uncommittedChanges = "uncommitted_changes"
    }

    /// Where the file is in a job image.
    package static let path = "job/source.json"
    /// Two fields need a few dozen bytes; more is not a source record.
    package static let maxBytes = 1024

    /// The file's bytes: one line of JSON, fixed key order, so packaging stays reproducible.
    package func encoded() -> [UInt8] {
        Array("{\"commit\":\"\(commit)\",\"uncommitted_changes\":\(uncommittedChanges)}\n".utf8)
    }

    /// Parses `job/source.json`; throws `.invalidArgument` saying what is wrong.
    package static func parse(_ bytes: [UInt8]) throws(ConstruirError) -> PackagedSource {
        guard bytes.count <= maxBytes else { throw invalid("is larger than \(maxBytes) bytes") }
        let source: Strict
        do {
            source = try JSONDecoder().decode(Strict.self, from: Data(bytes))
        } catch let error as ConstruirError {
            throw error
        } catch {
            throw invalid("is not {\"commit\": HEX, \"uncommitted_changes\": true|false}")
        }
        guard isCommit(source.value.commit) else {
            throw invalid("commit must be 40 or 64 lowercase hex digits")
        }
        return source.value
    }

    static func isCommit(_ text: String) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64)
            && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func invalid(_ reason: String) -> ConstruirError {
        ConstruirError(.invalidArgument, "\(path) \(reason)")
    }

    /// Decodes with no unknown and no missing field (`Codable` alone ignores unknown keys).
    private struct Strict: Decodable {
        let value: PackagedSource

        struct AnyKey: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            if let unknown = keys.first(where: { !known.contains($0) }) {
                throw PackagedSource.invalid("has an unknown field '\(unknown.prefix(40))' (known: commit, uncommitted_changes)")
            }
            value = try PackagedSource(from: decoder)
        }
    }
}
