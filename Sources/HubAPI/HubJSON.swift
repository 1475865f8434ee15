import Foundation
import JobModel

/// The API's JSON: snake_case keys, and dates as result.json writes them.
public enum HubJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JobResult.jsonEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(value)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = JobResult.jsonDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: data)
    }
}
