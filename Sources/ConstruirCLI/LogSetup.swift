import Logging
import Synchronization

/// swift-log may be bootstrapped once per process: the first command to log picks the format.
enum LogSetup {
    private static let chosen = Mutex<LogFormat?>(nil)

    static func once(format: LogFormat = .text) {
        chosen.withLock { chosen in
            guard chosen == nil else { return }
            chosen = format
            switch format {
            case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            case .json: LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
            }
        }
    }
}
