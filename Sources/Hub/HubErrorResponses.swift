import Foundation
import HTTPTypes
import HubAPI
import HubStore
import Logging
import OpenAPIRuntime

/// Turns whatever an operation or a middleware threw into the API's error answer, `{"error":
/// "..."}` with its status: a `HubHTTPError` as it says, a lease that is not the caller's as
/// 409, a request the generated code could not read as its 4xx with the reason. Anything else
/// is the hub's fault: 500, logged, with no detail for the caller. The outermost middleware.
struct HubErrorResponses: ServerMiddleware {
    let logger: Logger

    func intercept(_ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        do {
            return try await next(request, body, metadata)
        } catch {
            let answer = Self.error(for: error)
            if answer.status.kind == .serverError {
                logger.error("a call failed", metadata: ["operation": "\(operationID)", "error": "\(error)"])
            }
            return answer.response()
        }
    }

    static func error(for thrown: any Error) -> HubHTTPError {
        var error = thrown
        if let server = error as? ServerError {
            error = server.underlyingError
            if server.httpStatus.kind == .clientError, !(error is HubHTTPError), !(error is HubNotHeld) {
                return HubHTTPError(server.httpStatus, "\(server.causeDescription): \(HubServer.reason(error))")
            }
        }
        if let error = error as? HubHTTPError { return error }
        if let error = error as? HubNotHeld { return HubHTTPError(.conflict, error.description) }
        return HubHTTPError(.internalServerError, "the hub failed to answer this call; its log says why")
    }
}
