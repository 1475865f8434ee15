import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Sends the caller's token (and who is calling) with every call.
struct HubBearerToken: ClientMiddleware {
    let authorization: String

    init(token: String) {
        authorization = "Bearer \(token)"
    }

    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = authorization
        request.headerFields[.userAgent] = "construir"
        return try await next(request, body, baseURL)
    }
}
