import Foundation
import JobModel
import OpenAPIRuntime

/// The API's JSON, as both generated sides and every hand-made body write it: sorted,
/// pretty-printed keys (the generated types name them in snake_case), and dates as result.json
/// writes them, with fractional seconds.
package enum HubJSON {
    /// The generated server's and client's configuration.
    package static let configuration = Configuration(
        dateTranscoder: HubDateTranscoder(), jsonEncodingOptions: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])

    package static func encode<T: Encodable>(_ value: T) throws -> Data {
        try JobResult.jsonEncoder().encode(value)
    }

    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JobResult.jsonDecoder().decode(type, from: data)
    }

    /// The same document as another type: a `JobResult` as the API's `JobResult` schema and
    /// back. What one type has and the other lacks is dropped, which is why a test holds the
    /// schema to every field of result.json.
    package static func recode<T: Decodable>(_ value: some Encodable, as type: T.Type) throws -> T {
        try decode(type, from: try encode(value))
    }
}
