import Foundation
import JobModel
import OpenAPIRuntime

/// Dates on the API as result.json has them: written with fractional seconds in UTC, read
/// with or without fractional seconds and with any offset, as ISO 8601 allows.
package struct HubDateTranscoder: DateTranscoder {
    package init() {}

    package func encode(_ date: Date) throws -> String {
        JobResult.timestamp(date)
    }

    package func decode(_ text: String) throws -> Date {
        guard let date = JobResult.parseTimestamp(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(text) is not an ISO 8601 date and time"))
        }
        return date
    }
}
