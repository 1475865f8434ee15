import Archive
import ConstruirSystem
import Foundation
import Hummingbird
import HummingbirdTLS
import HubAPI
import HubStore
import JobModel
import Logging
import NIOCore
import NIOFoundationCompat
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// `construir hub serve`: hands the jobs of a queue directory to runners that pull them over
/// HTTP(S), and writes what they send back into done/ (docs/hub.md).
///
/// Every `/api/v1/` call carries a token (`HubTokenStore`); a runner token may claim, download,
/// heartbeat, release and upload its leased jobs, a submitter token may add jobs. The web page
/// and `/metrics` are read-only and show no secrets. File and lease work runs on NIO's thread
/// pool, never on the cooperative pool.
public struct HubServer: Sendable {
    public struct Configuration: Sendable {
        public var address: ListenAddress
        /// Serve HTTPS with this certificate chain and key (PEM); nil serves plain HTTP.
        public var tls: TLSFiles?
        /// The largest console log a runner may send (`--max-console`).
        public var maxConsoleBytes: Int64
        /// The largest job a submitter may send (`--max-job-size`).
        public var maxJobBytes: Int64
        /// The longest a long poll waits before answering 204.
        public var longPollLimit: Duration

        public init(address: ListenAddress, tls: TLSFiles? = nil, maxConsoleBytes: Int64 = 16 << 20,
                    maxJobBytes: Int64 = 4 << 30, longPollLimit: Duration = .seconds(60)) {
            self.address = address
            self.tls = tls
            self.maxConsoleBytes = maxConsoleBytes
            self.maxJobBytes = maxJobBytes
            self.longPollLimit = longPollLimit
        }
    }

    public struct TLSFiles: Sendable {
        public var certificateChain: String
        public var privateKey: String

        public init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public let configuration: Configuration
    /// Owns the hub's state: every route and the maintenance loop change it through it.
    public let coordinator: HubCoordinator
    public let authenticator: HubAuthenticator
    /// The build images served to runners, and checked at each claim (`--images`).
    public let images: HubImages
    private let fileIO = FileIO()

    public init(configuration: Configuration, coordinator: HubCoordinator, authenticator: HubAuthenticator, images: HubImages = .none) {
        self.configuration = configuration
        self.images = images
        self.coordinator = coordinator
        self.authenticator = authenticator
    }

    private var waiters: HubWaiters { coordinator.waiters }
    private var runners: HubRunners { coordinator.runners }
    private var blobs: HubBlobs { coordinator.blobs }

    /// The hub's services, in start order: the store's (connections, other hubs' news), then
    /// the HTTP server with the maintenance loop beside it. A service group stops them in
    /// reverse, so the store outlives every request. `onListening` gets the bound port.
    public func makeServices(logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let maintenance = HubMaintenance(coordinator: coordinator, authenticator: authenticator, logger: logger)
        let address = configuration.address
        let router = makeRouter(logger: logger)
        let applicationConfiguration = ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: "construir-hub")
        let onRunning: @Sendable (any Channel) async -> Void = { channel in await onListening(channel.localAddress?.port ?? address.port) }
        let waiters = coordinator.waiters
        let store = coordinator.store.services { waiters.notify() }
        guard let tls = configuration.tls else {
            return store + [Application(router: router, server: .http1(), configuration: applicationConfiguration, services: [maintenance],
                                        onServerRunning: onRunning, logger: logger)]
        }
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        let tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        return store + [Application(router: router, server: try .tls(.http1(), tlsConfiguration: tlsConfiguration),
                                    configuration: applicationConfiguration, services: [maintenance], onServerRunning: onRunning,
                                    logger: logger)]
    }

    /// The routes. Every `/api/v1/` call is authenticated by `HubAuthentication` before its
    /// handler runs, in one group per role; the page and /metrics need no token.
    func makeRouter(logger: Logger) -> Router<HubRequestContext> {
        let router = Router(context: HubRequestContext.self)
        let (runners, authenticator) = (self.runners, self.authenticator)
        func authenticated(as role: HubRole?) -> RouterGroup<HubRequestContext> {
            router.group().add(middleware: HubAuthentication(authenticator: authenticator, role: role) { runners.saw($0) })
        }
        let (anyToken, runner, submitter) = (authenticated(as: nil), authenticated(as: .runner), authenticated(as: .submitter))
        // Each path's methods, as they are added: what HubMethodNotAllowed answers 405 with.
        var served: [String: [HTTPRequest.Method]] = [:]
        func add(_ group: some RouterMethods<HubRequestContext>, _ method: HTTPRequest.Method, _ path: String,
                 _ handler: @escaping @Sendable (Request, HubRequestContext) async throws -> Response) {
            group.on(RouterPath(path), method: method, use: handler)
            served[path, default: []].append(method)
        }
        add(router, .get, "/") { _, _ -> Response in
            Self.text(HubPage.html(try await self.status()), type: "text/html; charset=utf-8")
        }
        add(router, .get, "/metrics") { _, _ -> Response in
            Self.text(HubPage.metrics(try await self.status(), waiting: self.waiters.count),
                      type: "text/plain; version=0.0.4; charset=utf-8")
        }
        add(anyToken, .get, HubPaths.status) { _, _ -> Response in
            try Self.json(try await self.status())
        }
        add(runner, .get, HubPaths.work) { request, context -> Response in
            let runner = try context.caller()
            let asked = request.uri.queryParameters.get("wait", as: Double.self) ?? 30
            let limit = min(max(asked, 0), configuration.longPollLimit.seconds)
            let deadline = ContinuousClock.now + .milliseconds(Int64(limit * 1000))
            let claim = images.isServing ? runners.lastClaim(of: runner.name) : nil
            let accepting: @Sendable (JobName) -> Bool = { job in claim.map { images.accepts(job, from: $0) } ?? true }
            // A stopping server waits for its open requests before the maintenance service hears
            // of the shutdown: the poll must end on the server's own signal, or a hub takes the
            // rest of every open poll to stop.
            return try await withGracefulShutdownHandler {
                while true {
                    let seen = waiters.generation
                    if try await coordinator.hasWork(for: runner.name, accepting: accepting) { return Response(status: .ok) }
                    if ContinuousClock.now >= deadline || Task.isCancelled || waiters.isClosed { return Response(status: .noContent) }
                    await waiters.wait(after: seen, timeout: deadline - ContinuousClock.now)
                }
            } onGracefulShutdown: {
                waiters.close()
            }
        }
        add(runner, .post, HubPaths.claim) { request, context -> Response in
            let runner = try context.caller()
            let body = try await request.body.collect(upTo: 64 * 1024)
            let asked: HubClaimRequest
            if body.readableBytes == 0 {
                asked = HubClaimRequest()  // a runner that names no images gets no job for an image the hub serves
            } else {
                do {
                    asked = try HubJSON.decode(HubClaimRequest.self, from: Data(buffer: body))
                } catch {
                    throw HubHTTPError(.badRequest, "the body is not a claim request: \(Self.reason(error))")
                }
            }
            runners.claimed(asked, by: runner.name)
            let images = self.images
            guard let lease = try await coordinator.claim(for: runner.name, accepting: { images.accepts($0, from: asked) }) else {
                return Response(status: .noContent)
            }
            logger.info("leased job", metadata: ["job": "\(lease.fileName)", "lease": "\(lease.id)", "runner": "\(runner.name)",
                                                 "attempt": "\(lease.attempt)", "replica": "\(lease.job.holds.count + lease.job.results.count) of \(lease.job.replicas)"])
            let imageDigest = JobName(fileName: lease.fileName).flatMap { images.digest(ofImage: $0.image(default: asked.defaultImage)) }
            return try Self.json(HubClaim(id: lease.id, job: lease.fileName, attempt: lease.attempt, sha256: lease.sha256,
                                          size: lease.size, queued: lease.queued, leaseSeconds: coordinator.rules.leaseDuration.seconds,
                                          imageDigest: imageDigest))
        }
        add(runner, .get, "\(HubPaths.prefix)/jobs/{id}/job") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            let path = blobs.jobPath(try await held(id, by: runner).id)
            return try await serveFile(path, type: "application/x-xz", request, context)
        }
        add(runner, .get, HubPaths.images) { request, _ -> Response in
            guard images.isServing else { throw Self.noImages }
            return try Self.json(images.list)
        }
        add(runner, .get, "\(HubPaths.images)/{index}/image.json") { request, context -> Response in
            guard let path = imageIndex(context).flatMap({ images.manifestPath($0) }) else { throw Self.noImages }
            return try await serveFile(path, type: "application/json", request, context)
        }
        add(runner, .get, "\(HubPaths.images)/{index}/files/{name}") { request, context -> Response in
            guard let index = imageIndex(context), let name = context.parameters.get("name"),
                  let path = images.filePath(index, name) else { throw Self.noImages }
            return try await serveFile(path, type: "application/octet-stream", request, context)
        }
        add(runner, .post, "\(HubPaths.prefix)/jobs/{id}/heartbeat") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            let hold = try await leaseCall { try await coordinator.heartbeat(id, by: runner.name) }
            return try Self.json(HubHeartbeatReply(expires: hold.expires, leaseSeconds: coordinator.rules.leaseDuration.seconds))
        }
        add(runner, .post, "\(HubPaths.prefix)/jobs/{id}/release") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            try await leaseCall { try await coordinator.release(id, by: runner.name) }
            logger.info("runner gave a job back", metadata: ["lease": "\(id)", "runner": "\(runner.name)"])
            return Response(status: .noContent)
        }
        add(runner, .put, "\(HubPaths.prefix)/jobs/{id}/console") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            let lease = try await held(id, by: runner)
            try await receiveUpload(request, context, lease: lease, runner: runner, logger: logger,
                                    file: HubResultIntake.consoleUpload(serial: lease.serial), limit: configuration.maxConsoleBytes,
                                    what: "the console log")
            return Response(status: .noContent)
        }
        add(runner, .put, "\(HubPaths.prefix)/jobs/{id}/output") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            let lease = try await held(id, by: runner)
            let cap: Int64
            do {
                cap = try await blocking { try coordinator.intake.outputCap(ofJob: id) }
            } catch {
                throw HubHTTPError(.unprocessableContent, "the hub cannot read this job's image to size its output: \(error)")
            }
            try await receiveUpload(request, context, lease: lease, runner: runner, logger: logger,
                                    file: HubResultIntake.outputUpload(serial: lease.serial), limit: cap, what: "the output archive")
            return Response(status: .noContent)
        }
        add(runner, .post, "\(HubPaths.prefix)/jobs/{id}/result") { request, context -> Response in
            let (runner, id) = try leaseCaller(context)
            let body = try await request.body.collect(upTo: 256 * 1024)
            let reported: JobResult
            do {
                reported = try JobResult.decode(Data(buffer: body))
            } catch {
                throw HubHTTPError(.badRequest, "the body is not a result.json: \(Self.reason(error))")
            }
            let outcome = try await leaseCall { try await coordinator.finish(id, by: runner.name, reported: reported) }
            logger.info("result taken in", metadata: ["job": "\(outcome.receipt.job)", "runner": "\(runner.name)",
                                                      "status": "\(outcome.receipt.status ?? "?")", "done": "\(outcome.receipt.location)"])
            if let refusal = outcome.refusal { throw HubHTTPError(.unprocessableContent, refusal) }
            return try Self.json(outcome.receipt)
        }
        add(submitter, .post, HubPaths.jobs) { request, context -> Response in
            let submitter = try context.caller()
            let fileName = request.uri.queryParameters.get("name") ?? ""
            guard let name = JobName(fileName: fileName) else {
                throw HubHTTPError(.badRequest, "?name= must be a job file name, NAME_iN.tar.xz")
            }
            if let problem = name.problem { throw HubHTTPError(.badRequest, problem) }
            if try await coordinator.isQueued(name: name.fileName) {
                throw HubHTTPError(.conflict, "a job named \(name.fileName) is already queued")
            }
            let place = try await blocking { try blobs.uploadPlace(for: name) }
            do {
                try await receive(request, context, into: place.file, limit: configuration.maxJobBytes, what: "the job")
                try await blocking {
                    do {
                        _ = try JobImageInspector.inspect(place.file)
                    } catch {
                        throw HubHTTPError(.unprocessableContent, "not a valid job image: \(error)")
                    }
                }
                _ = try await coordinator.accept(upload: place.id, name: name, submitter: submitter.name)
            } catch {
                try? await blocking { blobs.remove(place.id) }
                throw error
            }
            logger.info("job submitted", metadata: ["job": "\(name.fileName)", "submitter": "\(submitter.name)"])
            return try Self.json(HubReceipt(job: name.fileName, location: name.fileName), status: .created)
        }
        // After the routes: it sees only what no route matched.
        router.add(middleware: HubMethodNotAllowed(served))
        return router
    }

    static let noImages = HubHTTPError(.notFound, "no such build image or file on this hub")

    /// Why a JSON body did not decode, in words a runner's author can act on: the field's path
    /// and what was wrong with it (the body is the caller's own, so nothing leaks).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the body" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)): \(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The `{index}` of an image route, as `ImageStore` spells an index (`0`, never `00` or `+0`).
    private func imageIndex(_ context: HubRequestContext) -> Int? {
        context.parameters.get("index").flatMap { ImageStore.index(named: $0) }
    }

    /// Streams a file from disk; `Range: bytes=FIRST-[LAST]` gets 206, or 416 past the end.
    private func serveFile(_ path: String, type: String, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        let size = try await blocking { try FileSystem.size(of: path) }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.acceptRanges] = "bytes"
        guard let range = ByteRange(header: request.headers[.range]) else {
            return Response(status: .ok, headers: headers, body: try await fileIO.loadFile(path: path, context: context))
        }
        guard range.first < size else {
            headers[.contentRange] = "bytes */\(size)"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
        let last = min(range.last ?? size - 1, size - 1)
        headers[.contentRange] = "bytes \(range.first)-\(last)/\(size)"
        let body = try await fileIO.loadFile(path: path, range: Int(range.first)...Int(last), context: context)
        return Response(status: .partialContent, headers: headers, body: body)
    }

    /// The caller (a runner: the group checked it) and the `{id}` it names, or 404 for an id
    /// the hub could never have made.
    private func leaseCaller(_ context: HubRequestContext) throws -> (HubToken, String) {
        let runner = try context.caller()
        let id = try context.parameters.require("id")
        guard SafeName.isSafe(id), !id.hasPrefix(".") else { throw HubHTTPError(.notFound, "no such job") }
        return (runner, id)
    }

    /// `runner`'s live lease `id`, or 409.
    private func held(_ id: String, by runner: HubToken) async throws -> HubHold {
        try await leaseCall { try await coordinator.held(id, by: runner.name) }
    }

    /// Receives one of a hold's uploads. A runner that sends more than allowed is not trusted
    /// with the job any further: its hold fails (the job goes to another runner, or ends in
    /// error after `--max-attempts` failures), and the runner gets 413.
    private func receiveUpload(_ request: Request, _ context: HubRequestContext, lease: HubHold, runner: HubToken, logger: Logger,
                               file: String, limit: Int64, what: String) async throws {
        do {
            try await receive(request, context, into: "\(blobs.path(lease.id))/\(file)", limit: limit, what: what)
        } catch let error as HubHTTPError where error.status == .contentTooLarge {
            let message = "the runner \(runner.name) sent more than the job allows: \(error.message)"
            do {
                try await coordinator.refuseUpload(lease.id, by: runner.name, reason: message)
                logger.warning("refused an upload; the runner's hold on the job failed", metadata: [
                    "lease": "\(lease.id)", "runner": "\(runner.name)"])
            } catch {
                logger.error("refused an upload, and cannot end its job: \(error)", metadata: ["lease": "\(lease.id)"])
            }
            throw error
        }
    }

    /// A lease operation: `NotHeld` becomes 409, which tells a runner the job is no longer its.
    private func leaseCall<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as HubNotHeld {
            throw HubHTTPError(.conflict, error.description)
        }
    }

    /// Streams the request body into `path` (replacing it), refusing more than `limit` bytes
    /// both by its Content-Length and as it arrives. Nothing is left at `path` on failure.
    private func receive(_ request: Request, _ context: HubRequestContext, into path: String, limit: Int64, what: String) async throws {
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > limit {
            throw HubHTTPError(.contentTooLarge, "\(what) is \(length) bytes, more than the \(limit) bytes allowed")
        }
        do {
            try await fileIO.writeFile(contents: CappedBody(base: request.body, limit: limit, what: what), path: path, context: context)
        } catch {
            try? await blocking { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }

    func status() async throws -> HubStatus {
        try await coordinator.status()
    }

    /// Blocking file work on NIO's thread pool: a bounded set of threads, however many requests.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try HubJSON.encode(value))))
    }

    static func text(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
