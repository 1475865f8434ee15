import ConstruirSystem
import Foundation
import HubStore
import JobModel
import Logging
import ServiceLifecycle

/// How a hub is put together from settings `hub serve` has parsed: its store (SQLite beside the
/// jobs' files, or PostgreSQL, which several hubs can share), the jobs' files, the intake, the
/// coordinator, the tokens, the images it serves and the server. `hub serve` is its arguments
/// and a call to `makeServices`.
package struct HubSetup: Sendable {
    package var server: HubServer.Configuration
    package var queue: String
    package var done: String
    /// The jobs' files; nil: QUEUE/.construir-hub.
    package var leases: String?
    /// A SQLite file, or a postgres:// URL; nil: hub.sqlite among the jobs' files.
    package var database: String?
    package var tokens: String
    /// The build images to serve; nil: none.
    package var images: String?
    package var rules: HubRules
    package var terms: HubJobTerms
    package var finishTimeout: Duration
    package var maxOutputSize: Int64
    package var webhook: HubWebhook?

    package init(server: HubServer.Configuration, queue: String, done: String, leases: String?, database: String?, tokens: String,
                 images: String?, rules: HubRules, terms: HubJobTerms, finishTimeout: Duration, maxOutputSize: Int64,
                 webhook: HubWebhook?) {
        self.server = server
        self.queue = queue
        self.done = done
        self.leases = leases
        self.database = database
        self.tokens = tokens
        self.images = images
        self.rules = rules
        self.terms = terms
        self.finishTimeout = finishTimeout
        self.maxOutputSize = maxOutputSize
        self.webhook = webhook
    }

    /// Whether `database` names a PostgreSQL database (which several hubs may share).
    package var isShared: Bool {
        database.map { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") } ?? false
    }

    /// The hub's services: its server, maintenance and, with a webhook, its notifier. They log
    /// where the hub listens once it does.
    package func makeServices(logger: Logger) async throws -> [any Service] {
        let queueDirectory = FileSystem.absolute(queue)
        try FileSystem.makeDirectory(queueDirectory)
        let shared = isShared
        let blobs = try HubBlobs(directory: FileSystem.absolute(leases ?? "\(queueDirectory)/.construir-hub"), exclusive: !shared)
        let store: any HubStore = if shared, let database {
            try PostgresHubStore(url: database, logger: logger)
        } else {
            try SQLiteHubStore(path: FileSystem.absolute(database ?? "\(blobs.directory)/hub.sqlite"))
        }
        let intake = HubResultIntake(store: store, blobs: blobs, done: try DoneStore(directory: FileSystem.absolute(done)),
                                     maxOutputSize: maxOutputSize, announcing: webhook != nil)
        let coordinator = HubCoordinator(store: store, blobs: blobs, intake: intake, rules: rules, terms: terms,
                                         queueDirectory: queueDirectory, exclusive: !shared, finishTimeout: finishTimeout, logger: logger)
        let authenticator = try HubAuthenticator(store: HubTokenStore(path: FileSystem.absolute(tokens)))
        var served = HubImages.none
        if let images { served = try await HubImages.load(directory: FileSystem.absolute(images), logger: logger) }
        let server = HubServer(configuration: self.server, coordinator: coordinator, authenticator: authenticator, images: served,
                               webhook: webhook)
        let address = self.server.address
        let scheme = self.server.tls == nil ? "http" : "https"
        let (lease, replicas) = (Units.format(rules.leaseDuration), "\(terms.replicas)" + (terms.maxReplicas > terms.replicas ? "-\(terms.maxReplicas)" : ""))
        let adaptive = rules.trust.map { "after \($0.after) agreed in a row" } ?? "off"
        let (quota, limit) = (rules.dailyQuota, terms.leaseMargin.map { "job timeout + \(Units.format($0))" } ?? "none")
        return try server.makeServices(logger: logger) { port in
            logger.notice("hub listening at \(scheme)://\(ListenAddress(host: address.host, port: port))/", metadata: [
                "queue": "\(queueDirectory)", "done": "\(intake.publisher.done.directory)", "lease": "\(lease)",
                "replicas": "\(replicas)", "adaptive": "\(adaptive)", "daily-quota": "\(quota)", "lease-limit": "\(limit)", "secrets": "\(terms.allowSecrets ? "with an owner: tag" : "refused")"])
        }
    }
}
