import ArgumentParser
import ConstruirSystem
import Foundation
import Hub
import HubStore
import JobModel
import HubClient
import Logging
import Runner
import ServiceLifecycle

/// `construir hub`: the hub that hands jobs to volunteers' runners over HTTPS, and its tokens
/// (docs/hub.md).
package struct HubCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Serve a queue to runners that pull jobs over HTTPS (construir run --hub), and manage its tokens.",
        subcommands: [Serve.self, Token.self, Pin.self])

    package init() {}

    /// `construir hub serve --listen ADDR --queue DIR --done DIR --tokens FILE`
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand the queue's jobs to runners that pull them, and write their results into done/.",
            discussion: """
            Job files renamed into the queue directory become the hub's jobs, as do jobs that \
            submitters send. The hub's state is in an SQLite database (--database), the job files \
            in its private directory (--leases). Results land in done/ in a local runner's layout. The \
            API is under /api/v1/ and every call needs a token (construir hub token add); GET / \
            and /metrics show runners and leases without one. Plain HTTP is served only on \
            loopback, unless --insecure-http says otherwise.
            """)

        @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free one.", valueName: "HOST:PORT"))
        var listen = "127.0.0.1:8443"
        @Option(help: "Directory of jobs to serve.") var queue = "queue"
        @Option(help: "Directory that receives finished jobs.") var done = "done"
        @Option(help: "The tokens file (construir hub token add).") var tokens: String
        @Option(help: "Where the hub keeps job files while it serves them, mode 0700; must be on the queue's filesystem. Default: QUEUE/.construir-hub")
        var leases: String?
        @Option(help: ArgumentHelp("The hub's database: an SQLite file (one hub), or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, which several hubs may share with one --leases directory. Default: LEASES/hub.sqlite",
                                   valueName: "FILE|URL"))
        var database: String?
        @Option(help: "How long taking a result in may take before another hub on the same database takes it as abandoned by a hub that died.")
        var finishTimeout = "10m"
        @Option(help: "How long a lease lasts without a heartbeat, e.g. 60s.") var lease = "60s"
        @Option(help: "Runners that may fail a job (lease ran out, error, refused output) before it ends in error.") var maxAttempts = 3
        @Option(help: "Run each job on this many different runners and accept the result a strict majority agrees on (all of them, for 2).")
        var replicas = 1
        @Option(help: "Most replicas a job may ask for with `replicas:` in job/construir.yml, and the most the hub adds, one at a time, to a job whose results form no majority before it ends disputed. Default: --replicas.")
        var maxReplicas: Int?
        @Flag(help: "Adaptive replication: a runner with --trust-after agreed results in a row runs a replicated job alone with probability 1 - 1/K; any dispute or error resets its count.")
        var adaptive = false
        @Option(help: ArgumentHelp("With --adaptive, the agreed results in a row (K) before a runner may run a job alone.", valueName: "K"))
        var trustAfter = 10
        @Option(help: "Holds a runner may take per UTC day; each failure (error, refused output, lease ran out) halves its quota and each result it delivers doubles it back.")
        var dailyQuota = 1000
        @Option(help: "No lease lives longer than the job's timeout plus this margin for download and upload, whatever its heartbeats say; \"none\" for no limit.")
        var leaseMargin = "15m"
        @Flag(help: "Take jobs that ask for runners' secrets (secrets: in job/construir.yml), each only with an owner: tag, which only this hub grants a runner token (hub token add --tag owner:NAME). Without it they are refused.")
        var allowSecrets = false
        @Option(help: "The timeout of a job whose manifest names none, for its lease limit: what runners give it by default.")
        var jobTimeout = "30m"
        @Option(help: "Most jobs one runner token may hold at once.") var maxLeases = 32
        @Option(help: "Largest console log a runner may send.") var maxConsole = "16M"
        @Option(help: "Largest output any job may send (a job's own limit is its output size).") var maxOutputSize = "4G"
        @Option(help: "Largest job a submitter may send.") var maxJobSize = "4G"
        @Option(help: "Who may read jobs, results, consoles and outputs: private (each submitter its own) or public (anyone, without a token).")
        var results: ResultsVisibility = .private
        @Option(help: "The most jobs one submitter may have waiting for a runner; more are refused (429) until some start.")
        var maxQueuedPerSubmitter = 1000
        @Option(help: ArgumentHelp("POST a signed JSON event to this URL for every finished job (docs/hub.md, \"Events\").", valueName: "URL"))
        var webhook: String?
        @Option(help: "The secret the webhook's events are signed with (HMAC-SHA256), in a file of mode 0600.")
        var webhookSecretFile: String?
        @Option(help: ArgumentHelp("The hub's address as its users reach it, for links in events.", valueName: "URL"))
        var publicURL: String?
        @Option(help: ArgumentHelp("Remove the oldest finished jobs from done/ beyond this much space, e.g. 50G (pinned ones stay: hub pin).", valueName: "SIZE"))
        var keepDone: String?
        @Option(help: ArgumentHelp("Remove finished jobs older than this many days from done/ (pinned ones stay).", valueName: "N"))
        var keepDays: Double?
        @Option(help: "Serve the build images in this directory (N/image.json) to runners, and give a runner a job for image N only when its image N has the same digest. Default: none.")
        var images: String?
        @Option(help: "TLS certificate chain (PEM); with --tls-key, the hub serves HTTPS.") var tlsCert: String?
        @Option(help: "TLS private key (PEM).") var tlsKey: String?
        @Flag(help: "Serve plain HTTP on an address other than loopback: tokens then cross the network in clear text.")
        var insecureHTTP = false
        @Flag(help: "Log debug details.") var verbose = false
        @Option(help: "Log format on standard error: text or json.") var logFormat: LogFormat = .text

        func validate() throws {
            let address = try RunCommand.validated { try ListenAddress(parsing: listen) }
            guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
            if tlsCert == nil, !insecureHTTP, !HubClient.isLoopback(address.host) {
                throw ValidationError("plain HTTP on \(address) would send tokens in clear text: give --tls-cert and --tls-key, or --insecure-http")
            }
            guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
            guard maxLeases >= 1 else { throw ValidationError("--max-leases must be at least 1") }
            guard dailyQuota >= 1 else { throw ValidationError("--daily-quota must be at least 1") }
            guard trustAfter >= 2 else { throw ValidationError("--trust-after must be at least 2 (a runner runs alone with probability 1 - 1/K)") }
            if leaseMargin != "none" { _ = try RunCommand.validated { try Units.duration(leaseMargin) } }
            _ = try RunCommand.validated { try Units.duration(jobTimeout) }
            guard maxQueuedPerSubmitter >= 1 else { throw ValidationError("--max-queued-per-submitter must be at least 1") }
            guard (webhook == nil) == (webhookSecretFile == nil) else { throw ValidationError("--webhook and --webhook-secret-file go together") }
            if let keepDays, !(keepDays > 0) { throw ValidationError("--keep-days must be more than 0") }
            if let keepDone { _ = try RunCommand.validated { try Units.byteSize(keepDone) } }
            guard (1...JobManifest.maxReplicas).contains(replicas) else {
                throw ValidationError("--replicas must be from 1 to \(JobManifest.maxReplicas)")
            }
            if let maxReplicas, !(replicas...JobManifest.maxReplicas).contains(maxReplicas) {
                throw ValidationError("--max-replicas must be from --replicas (\(replicas)) to \(JobManifest.maxReplicas)")
            }
        }

        func run() async throws {
            let logger = RunCommand.makeLogger(verbose: verbose, format: logFormat)
            let services: [any Service]
            do {
                services = try await setup().makeServices(logger: logger)
            } catch {
                throw fail("hub serve", "\(error)")
            }
            do {
                try await CommandServices.run(nil, beside: services, logger: logger)
            } catch {
                throw fail("hub serve", "\(error)")
            }
        }

        /// The hub's settings, parsed from the options.
        func setup() throws -> HubSetup {
            let server = HubServer.Configuration(
                address: try ListenAddress(parsing: listen), tls: tlsCert.map { HubServer.TLSFiles(certificateChain: $0, privateKey: tlsKey ?? "") },
                maxConsoleBytes: try Units.byteSize(maxConsole), maxJobBytes: try Units.byteSize(maxJobSize),
                publicResults: results == .public, maxQueuedPerSubmitter: maxQueuedPerSubmitter,
                keepDoneBytes: try keepDone.map { try Units.byteSize($0) }, keepDays: keepDays)
            return HubSetup(
                server: server, queue: queue, done: done, leases: leases, database: database, tokens: tokens, images: images,
                rules: HubRules(leaseDuration: try Units.duration(lease), maxAttempts: maxAttempts, maxLeasesPerRunner: maxLeases,
                                dailyQuota: dailyQuota, trust: adaptive ? HubTrust(after: trustAfter) : nil),
                terms: HubJobTerms(replicas: replicas, maxReplicas: maxReplicas, jobTimeout: try Units.duration(jobTimeout),
                                   leaseMargin: leaseMargin == "none" ? nil : try Units.duration(leaseMargin),
                                   allowSecrets: allowSecrets),
                finishTimeout: try Units.duration(finishTimeout),
                maxOutputSize: try Units.byteSize(maxOutputSize),
                webhook: try webhook.map { try HubWebhook(url: $0, secretFile: webhookSecretFile ?? "", publicURL: publicURL) })
        }
    }

    /// `construir hub token add|list|revoke`
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add, list and revoke the hub's API tokens.",
            discussion: """
            The tokens file keeps each token's name, role and the sha256 of its secret, never the \
            secret: `add` prints it once. The file is private to its owner (mode 0600); one that \
            others can read or write is refused.
            """,
            subcommands: [Add.self, List.self, Revoke.self])
    }

    /// `construir hub pin NAME --done DIR [--unpin]`
    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a finished job in the hub's done/ whatever --keep-done and --keep-days say.",
            discussion: "NAME is the job's directory in done/ (its `location` on the API). --unpin lets it go again.")

        @Argument(help: "The job's directory in done/.") var name: String
        @Option(help: "The hub's done/ directory.") var done = "done"
        @Flag(help: "Unpin it.") var unpin = false

        func run() throws {
            do {
                try DoneStore(directory: FileSystem.absolute(done)).pin(name, pinned: !unpin)
            } catch {
                throw fail("hub pin", "\(error)")
            }
            print("\(name): \(unpin ? "unpinned" : "pinned")")
        }
    }

    struct TokensFile: ParsableArguments {
        @Option(help: "The hub's tokens file (created by the first `hub token add`).")
        var tokens: String
    }

    /// `construir hub token add NAME --role runner|submitter --tokens FILE`
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print its secret, alone on standard output; it is shown only this once.")

        @Argument(help: "The token's name: the runner or submitter it is for.") var name: String
        @Option(help: "What it may do: runner (claim jobs, send results) or submitter (add jobs).") var role: HubRole
        @Option(name: .customLong("tag"), help: ArgumentHelp("A tag the hub grants this runner token's runners, e.g. owner:alice (repeatable): a job asking for it goes only to them, and no runner can claim it for itself.", valueName: "TAG"))
        var tags: [String] = []
        @OptionGroup var file: TokensFile

        func run() throws {
            do {
                print(try HubTokenStore(path: file.tokens).add(name: name, role: role, tags: tags))
            } catch {
                throw fail("hub token add", "\(error)")
            }
        }
    }

    /// `construir hub token list --tokens FILE`
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens: name, role, created, revoked, granted tags.")

        @OptionGroup var file: TokensFile
        @Flag(help: "Print JSON (without the hashes).") var json = false

        func run() throws {
            let tokens: [HubToken]
            do {
                tokens = try HubTokenStore(path: file.tokens).tokens()
            } catch {
                throw fail("hub token list", "\(error)")
            }
            let date = ISO8601DateFormatter()
            if json {
                let rows = tokens.map { token -> [String: String] in
                    var row = ["name": token.name, "role": token.role.rawValue, "created": date.string(from: token.created)]
                    if let revoked = token.revoked { row["revoked"] = date.string(from: revoked) }
                    if let tags = token.tags { row["tags"] = tags.joined(separator: ",") }
                    return row
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let width = max(4, tokens.map(\.name.count).max() ?? 0)
            print("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  ROLE       CREATED               REVOKED               TAGS")
            for token in tokens {
                let revoked: String = token.revoked.map { date.string(from: $0) } ?? "-"
                let columns: [String] = [token.name.padding(toLength: width, withPad: " ", startingAt: 0),
                                         token.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0),
                                         date.string(from: token.created), revoked.padding(toLength: 20, withPad: " ", startingAt: 0),
                                         token.tags?.joined(separator: ",") ?? "-"]
                print(columns.joined(separator: "  "))
            }
        }
    }

    /// `construir hub token revoke NAME --tokens FILE`
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: from now on it authenticates nothing.")

        @Argument(help: "The token's name.") var name: String
        @OptionGroup var file: TokensFile

        func run() throws {
            do {
                try HubTokenStore(path: file.tokens).revoke(name: name)
            } catch {
                throw fail("hub token revoke", "\(error)")
            }
        }
    }
}

extension HubRole: ExpressibleByArgument {}
