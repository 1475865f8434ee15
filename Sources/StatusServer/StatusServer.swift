import ConstruirSystem
import Foundation
import Hummingbird
import JobModel
import Logging
import ServiceLifecycle

/// The read-only web view of a queue (`construir serve`, `construir run --http`): an HTML page,
/// the same data as JSON, Prometheus metrics, and the files of done jobs. It only reads the
/// directories, like `construir status`, so it can run beside any number of runners or none.
///
/// Routes: `GET /` (page), `/jobs/NAME` (one done job), `/api/status`, `/api/jobs/NAME`,
/// `/metrics`, `/done/NAME/PATH` (a file of done/NAME: text inline as text/plain, anything
/// else as a download; never rendered as HTML).
///
/// Reading a queue grows with it, so every route reads on a thread of its own (`OwnThread`)
/// and a file is served in chunks of `FileWork`: a slow disk never holds the cooperative pool
/// that an in-process runner's timers need.
package struct StatusServer: Sendable {
    package let observer: any StatusSource
    package let files: DoneFiles
    package let address: ListenAddress
    /// How many done jobs the page and `/api/status` show by default.
    package let doneLimit: Int

    package init(observer: any StatusSource, address: ListenAddress, doneLimit: Int = 100) {
        self.observer = observer
        self.files = DoneFiles(doneDirectory: observer.doneDirectory)
        self.address = address
        self.doneLimit = doneLimit
    }

    /// The server as a service for a `ServiceGroup`; `onListening` gets the bound port (useful
    /// with port 0).
    package func makeService(logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> any Service {
        Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "construir"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? address.port) },
            logger: logger)
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { request, _ -> Response in
            let limit = Self.limit(request) ?? doneLimit
            return Self.html(try await Self.read {
                StatusPage.overview(observer.snapshot(now: Date(), doneLimit: limit)) { job, file in files.open(job: job, path: [file]) != nil }
            })
        }
        router.get("/jobs/{name}") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let page = try await Self.read({ () -> String? in
                observer.result(directory: name).map { StatusPage.job(directory: name, result: $0, files: files.list(job: name)) }
            }) else { return Self.notFound() }
            return Self.html(page)
        }
        router.get("/api/status") { request, _ -> Response in
            let limit = Self.limit(request) ?? doneLimit
            return Self.json(try await Self.read { try observer.snapshot(now: Date(), doneLimit: limit).encoded() })
        }
        router.get("/api/jobs/{name}") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let detail = try await Self.read({ () -> Data? in
                guard let result = observer.result(directory: name) else { return nil }
                return try JobDetail(directory: name, result: result, files: files.list(job: name).map {
                    JobDetail.File(path: $0.path, size: $0.size, regular: $0.isRegularFile)
                }).encoded()
            }) else { return Self.notFound() }
            return Self.json(detail)
        }
        router.get("/metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = try await Self.read { StatusMetrics.render(observer.snapshot(now: Date(), doneLimit: nil)) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/done/**") { request, _ -> Response in
            // The raw path, decoded here one segment at a time, so an encoded "/" stays inside
            // its segment (and is then refused) instead of becoming a separator.
            let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(2)
            let decoded = segments.map { $0.removingPercentEncoding }
            guard decoded.count >= 2, decoded.allSatisfy({ $0 != nil }) else { return Self.notFound() }
            let parts = decoded.map { $0! }
            guard let file = try await FileWork.run({ files.open(job: parts[0], path: Array(parts.dropFirst())) }) else { return Self.notFound() }
            return Self.serve(file, name: parts.last!)
        }
        return router
    }

    static func serve(_ file: DoneFiles.OpenFile, name: String) -> Response {
        let (type, download) = DoneFiles.contentType(for: name)
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.contentLength] = String(file.size)
        headers[.contentSecurityPolicy] = "sandbox; default-src 'none'"
        if download {
            let ascii = String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? Character($0) : "_" })
            let encoded = StatusPage.pathSegment(name)
            headers[.contentDisposition] = "attachment; filename=\"\(ascii)\"; filename*=UTF-8''\(encoded)"
        }
        let size = file.size
        let body = ResponseBody(contentLength: Int(size)) { writer in
            var offset: Int64 = 0
            while offset < size {
                let (at, count) = (offset, Int(min(size - offset, 64 * 1024)))
                let chunk = try await FileWork.run { file.read(at: at, count: count) }
                if chunk.isEmpty { break }  // truncated while we read: end early rather than spin
                try await writer.write(ByteBuffer(bytes: chunk))
                offset += Int64(chunk.count)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Reads the queue on a thread of its own: how long it takes grows with the queue and done/.
    static func read<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await OwnThread.run("construir-status", body)
    }

    static var securityHeaders: HTTPFields {
        var headers = HTTPFields()
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-store"
        return headers
    }

    static func html(_ text: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ data: Data) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notFound() -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
    }

    static func limit(_ request: Request) -> Int? {
        request.uri.queryParameters.get("limit", as: Int.self).map { max(0, $0) }
    }
}
