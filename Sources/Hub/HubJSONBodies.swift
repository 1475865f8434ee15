import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Reads the JSON body of a call whole before its operation decodes it, up to that call's cap
/// (413 beyond it, by Content-Length or as it arrives): the generated code would read any
/// amount. An empty body is no body, which an optional one may be, whether it came with a
/// length of 0 or chunked.
struct HubJSONBodies: ServerMiddleware {
    /// The operations with a JSON body, and the most each may send.
    static let caps: [String: Int] = ["claim": 64 * 1024, "sendResult": 256 * 1024]

    func intercept(_ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        guard let cap = Self.caps[operationID], let body else { return try await next(request, body, metadata) }
        let tooLarge = HubHTTPError(.contentTooLarge, "the body is larger than the \(cap) bytes this call takes")
        if case .known(let length) = body.length, length > cap { throw tooLarge }
        var data = Data()
        for try await chunk in body {
            guard data.count + chunk.count <= cap else { throw tooLarge }
            data.append(contentsOf: chunk)
        }
        return try await next(request, data.isEmpty ? nil : HTTPBody(data), metadata)
    }
}
