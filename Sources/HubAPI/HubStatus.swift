import Foundation

/// `GET /api/v1/status`: what `construir status --hub` and the hub's page show.
public struct HubStatus: Codable, Sendable, Equatable {
    public struct Runner: Codable, Sendable, Equatable {
        /// The runner token's name.
        public var name: String
        /// Its last call of any kind since the hub started.
        public var lastSeen: Date?
        /// The lease ids it holds.
        public var running: [String]
        /// Results it delivered since the hub started.
        public var jobsDone: Int

        public init(name: String, lastSeen: Date?, running: [String], jobsDone: Int) {
            self.name = name
            self.lastSeen = lastSeen
            self.running = running
            self.jobsDone = jobsDone
        }
    }

    public struct Lease: Codable, Sendable, Equatable {
        public var id: String
        public var job: String
        /// Nil while the job waits for a runner after a lease ran out.
        public var holder: String?
        public var attempt: Int
        public var expires: Date?

        public init(id: String, job: String, holder: String?, attempt: Int, expires: Date?) {
            self.id = id
            self.job = job
            self.holder = holder
            self.attempt = attempt
            self.expires = expires
        }
    }

    /// Job files waiting in the queue directory.
    public var queued: Int
    public var runners: [Runner]
    public var leases: [Lease]
    /// Results written to done/ since the hub started.
    public var finished: Int

    public init(queued: Int, runners: [Runner], leases: [Lease], finished: Int) {
        self.queued = queued
        self.runners = runners
        self.leases = leases
        self.finished = finished
    }
}
