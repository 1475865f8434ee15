import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Runner
import ServiceLifecycle
import StatusServer

/// `construir serve`: the read-only status page, JSON API and metrics, without a runner.
package struct ServeCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a read-only status page, a JSON API and Prometheus metrics over HTTP.",
        discussion: """
        GET / (the page), /jobs/NAME, /api/status, /api/jobs/NAME, /metrics, and /done/NAME/PATH \
        (files of a finished job, as text or download, never as a web page). It reads the \
        directories only. There is no authentication: listen on loopback, or put it behind a proxy \
        that has some. See docs/observability.md.
        """)

    @OptionGroup var location: QueueLocation
    @Option(help: ArgumentHelp("Address to listen on; port 0 picks a free one.", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:8080"
    @Flag(help: "Log debug details.") var verbose = false
    @Option(help: "Log format on standard error: text or json.") var logFormat: LogFormat = .text

    package init() {}

    package func validate() throws {
        _ = try RunCommand.validated { try ListenAddress(parsing: listen) }
    }

    package func run() async throws {
        let logger = RunCommand.makeLogger(verbose: verbose, format: logFormat)
        let server = Self.makeServer(observer: location.observer(), listen: try ListenAddress(parsing: listen), logger: logger)
        do {
            try await CommandServices.run(nil, beside: [server], logger: logger)
        } catch {
            throw fail("serve", "\(error)")
        }
    }

    /// The web server as a service, announcing its address once it listens.
    static func makeServer(observer: QueueObserver, listen: ListenAddress, logger: Logger) -> any Service {
        StatusServer(observer: observer, address: listen).makeService(logger: logger) { port in
            let bound = ListenAddress(host: listen.host, port: port)
            logger.notice("status page at http://\(bound)/", metadata: [
                "queue": "\(observer.queueDirectory)", "done": "\(observer.doneDirectory)",
            ])
        }
    }
}
