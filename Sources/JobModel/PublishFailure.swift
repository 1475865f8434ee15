import ConstruirSystem
import Foundation

/// `running/ID/unpublished.json`: why a finished job is still in running/ and when its runner
/// tries again. `status` and `/metrics` read only directories, so this is how they know.
public struct PublishFailure: Codable, Sendable, Equatable {
    /// The record's name in a running directory; `DoneStore` keeps it out of done/.
    public static let fileName = JobFiles.publishFailure

    /// The last failure, e.g. done/ out of space with the bytes needed and free.
    public var error: String
    /// Failed attempts so far.
    public var failures: Int
    public var firstFailure: Date
    public var nextAttempt: Date

    public init(error: String, failures: Int, firstFailure: Date, nextAttempt: Date) {
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

    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> PublishFailure {
        try JobResult.jsonDecoder().decode(PublishFailure.self, from: data)
    }

    /// The record in a running directory, nil when there is none (or it is unreadable).
    public static func read(in directory: String) -> PublishFailure? {
        (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(fileName)"))).flatMap { try? decode($0) }
    }
}
