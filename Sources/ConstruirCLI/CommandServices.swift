import Logging
import ServiceLifecycle

/// The one set-up of every long-running command (`run`, `run-once`, `hub serve`, `serve`): its
/// services in a `ServiceGroup` that SIGTERM and SIGINT stop gracefully.
enum CommandServices {
    /// Runs `main` and `others` until they end or a signal stops them. When `main` returns (a
    /// runner that went idle with `--exit-when-idle`), the others are stopped too; with no
    /// `main`, they run until a signal.
    static func run(_ main: (any Service)?, beside others: [any Service] = [], logger: Logger) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let main { services.append(.init(service: main, successTerminationBehavior: .gracefullyShutdownGroup)) }
        services += others.map { .init(service: $0) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
