import Foundation
import HTTPTypes
import HubAPI
import Hummingbird
import NIOCore
import OpenAPIRuntime

/// An API error: its status, and `{"error": "..."}` saying what went wrong in words.
package struct HubHTTPError: Error, Sendable, CustomStringConvertible {
    package let status: HTTPResponse.Status
    package let message: String
    /// The methods a path has, for a 405.
    let allow: String?

    package init(_ status: HTTPResponse.Status, _ message: String) {
        self.init(status, message, allow: nil)
    }

    init(_ status: HTTPResponse.Status, _ message: String, allow: String?) {
        self.status = status
        self.message = message
        self.allow = allow
    }

    package var description: String { "\(status.code) \(message)" }

    var headers: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"construir hub\"" }
        if let allow { headers[.allow] = allow }
        return headers
    }

    var body: Data { (try? HubJSON.encode(HubErrorBody(error: message))) ?? Data() }

    /// The answer, for the generated server.
    func response() -> (HTTPResponse, HTTPBody?) {
        (HTTPResponse(status: status, headerFields: headers), HTTPBody(body))
    }
}

/// The same answer where Hummingbird itself answers (a method a path does not have).
extension HubHTTPError: HTTPResponseError {
    package func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
