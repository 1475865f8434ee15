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
package struct HubServer: Sendable {
    package struct Configuration: Sendable {
        package var address: ListenAddress
        /// Serve HTTPS with this certificate chain and key (PEM); nil serves plain HTTP.
        package var tls: TLSFiles?
        /// The largest console log a runner may send (`--max-console`).
        package var maxConsoleBytes: Int64
        /// The largest job a submitter may send (`--max-job-size`).
        package var maxJobBytes: Int64
        /// The longest a long poll waits before answering 204.
        package var longPollLimit: Duration
        /// `--results public`: anyone may read every job, its result, console and output,
        /// without a token; stopping a job still takes its submitter's.
        package var publicResults: Bool
        /// The most jobs one submitter may have waiting for a runner (`--max-queued-per-submitter`).
        package var maxQueuedPerSubmitter: Int
        /// `--keep-done SIZE` and `--keep-days N`: the oldest finished jobs beyond them leave
        /// done/ (pinned ones stay); nil: kept.
        package var keepDoneBytes: Int64?
        package var keepDays: Double?

        package init(address: ListenAddress, tls: TLSFiles? = nil, maxConsoleBytes: Int64 = 16 << 20,
                    maxJobBytes: Int64 = 4 << 30, longPollLimit: Duration = .seconds(60), publicResults: Bool = false,
                    maxQueuedPerSubmitter: Int = 1000, keepDoneBytes: Int64? = nil, keepDays: Double? = nil) {
            self.keepDoneBytes = keepDoneBytes
            self.keepDays = keepDays
            self.address = address
            self.tls = tls
            self.maxConsoleBytes = maxConsoleBytes
            self.maxJobBytes = maxJobBytes
            self.longPollLimit = longPollLimit
            self.publicResults = publicResults
            self.maxQueuedPerSubmitter = maxQueuedPerSubmitter
        }
    }

    package struct TLSFiles: Sendable {
        package var certificateChain: String
        package var privateKey: String

        package init(certificateChain: String, privateKey: String) {
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    package let configuration: Configuration
    /// Owns the hub's state: every route and the maintenance loop change it through it.
    package let coordinator: HubCoordinator
    package let authenticator: HubAuthenticator
    /// The build images served to runners, and checked at each claim (`--images`).
    package let images: HubImages
    /// Where job ends are announced (`--webhook`); nil: nowhere.
    package let webhook: HubWebhook?

    package init(configuration: Configuration, coordinator: HubCoordinator, authenticator: HubAuthenticator, images: HubImages = .none,
                webhook: HubWebhook? = nil) {
        self.configuration = configuration
        self.webhook = webhook
        self.images = images
        self.coordinator = coordinator
        self.authenticator = authenticator
    }

    private var runners: HubRunners { coordinator.runners }
    /// The web pages' logins.
    private let sessions = HubWebSessions()

    /// The hub's services, in start order: the store's (connections, other hubs' news), then
    /// the HTTP server with the maintenance loop beside it. A service group stops them in
    /// reverse, so the store outlives every request. `onListening` gets the bound port.
    package func makeServices(logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let maintenance = HubMaintenance(coordinator: coordinator, authenticator: authenticator, logger: logger,
                                         keepDoneBytes: configuration.keepDoneBytes, keepDays: configuration.keepDays)
        let background: [any Service] = [maintenance] + (webhook.map { [HubNotifier(webhook: $0, coordinator: coordinator, logger: logger)] } ?? [])
        let address = configuration.address
        let router = try makeRouter(logger: logger)
        let applicationConfiguration = ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: "construir-hub")
        let onRunning: @Sendable (any Channel) async -> Void = { channel in await onListening(channel.localAddress?.port ?? address.port) }
        let waiters = coordinator.waiters
        let store = coordinator.store.services { waiters.notify() }
        guard let tls = configuration.tls else {
            return store + [Application(router: router, server: .http1(), configuration: applicationConfiguration, services: background,
                                        onServerRunning: onRunning, logger: logger)]
        }
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChain).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKey, format: .pem)
        let tlsConfiguration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        return store + [Application(router: router, server: try .tls(.http1(), tlsConfiguration: tlsConfiguration),
                                    configuration: applicationConfiguration, services: background, onServerRunning: onRunning,
                                    logger: logger)]
    }

    /// The routes: each operation of openapi.yaml, generated, behind the error answers and
    /// authentication (`HubAccess` says what each call needs); then 405 for a method a path
    /// does not have.
    func makeRouter(logger: Logger) throws -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: HubResponseHeaders())
        let routes = HubRouteRecorder(router: router)
        let operations = HubOperations(configuration: configuration, coordinator: coordinator, images: images, logger: logger)
        let runners = self.runners
        HubWebPages(operations: operations, sessions: sessions, authenticator: authenticator, secureCookies: configuration.tls != nil,
                    library: try HubTemplates.library()).register(on: router)
        try operations.registerHandlers(on: routes, configuration: HubJSON.configuration, middlewares: [
            HubErrorResponses(logger: logger),
            HubAuthentication(authenticator: authenticator, publicResults: configuration.publicResults) { runners.saw($0) },
            HubJSONBodies(),
        ])
        // After the routes: it sees only what no route matched.
        router.add(middleware: HubMethodNotAllowed(routes.served))
        return router
    }

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
}
