import Foundation
import HTTPTypes
import HubAPI
import OpenAPIRuntime

/// Turns every error answer of the hub into a `HubClientError`, classified by its status and
/// carrying the hub's `{"error": "..."}`, before the generated client sees it: the calls then
/// handle only the answers they expect.
struct HubClientErrors: ClientMiddleware {
    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        var message = response.status.reasonPhrase
        if let responseBody, let data = try? await Data(collecting: responseBody, upTo: 64 * 1024),
           let error = try? HubJSON.decode(HubErrorBody.self, from: data) {
            message = error.error
        }
        let kind: HubClientError.Kind = switch response.status.code {
        case 401, 403: .unauthorized
        case 409: .leaseLost
        case 413, 422: .refused
        default: .failed
        }
        throw HubClientError(kind, status: response.status.code, message)
    }
}
