import ConstruirSystem
import Foundation

/// `running/ID/unpublished.json`: why a finished job is still in running/ and when its runner
/// tries again. `status` and `/metrics` read only directories, so this is how they know.
package struct PublishFailure: Codable, Sendable, Equatable {
    /// The record's name in a running directory; `DoneStore` keeps it out of done/.
    package static let fileName = JobFiles.publishFailure

    /// The last failure, e.g. done/ out of space with the bytes needed and free.
    package var error: String
    /// Failed attempts so far.
    package var failures: Int
    package var firstFailure: Date
    package var nextAttempt: Date

    package init(error: String, failures: Int, firstFailure: Date, nextAttempt: Date) {
        self.error = error
        self.failures = failures
        self.firstFailure = firstFailure
        self.nextAttempt = nextAttempt
    }

    enum CodingKeys: String, CodingKey {
        case error, failures
        case firstFailure = "first_failure"
        case nextAttempt = "next_attempt"
    }

    package func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    package static func decode(_ data: Data) throws -> PublishFailure {
        try JobResult.jsonDecoder().decode(PublishFailure.self, from: data)
    }

    /// The record in a running directory, nil when there is none (or it is unreadable).
    package static func read(in directory: String) -> PublishFailure? {
        (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(fileName)"))).flatMap { try? decode($0) }
    }
}
