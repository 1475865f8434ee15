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
        /// Its record over the hub's life (kept across restarts).
        public var reputation: Reputation

        public init(name: String, lastSeen: Date?, running: [String], jobsDone: Int, reputation: Reputation = Reputation()) {
            self.name = name
            self.lastSeen = lastSeen
            self.running = running
            self.jobsDone = jobsDone
            self.reputation = reputation
        }
    }

    /// A runner's record: replicated jobs it agreed on with the others, jobs whose replicas
    /// disagreed while it took part, and its holds that failed (error, refused output, ran out).
    public struct Reputation: Codable, Sendable, Equatable {
        public var agreed = 0
        public var disputed = 0
        public var errors = 0

        public init(agreed: Int = 0, disputed: Int = 0, errors: Int = 0) {
            self.agreed = agreed
            self.disputed = disputed
            self.errors = errors
        }
    }

    /// One runner's hold on a job, or (holder nil) a place waiting for the next runner.
    public struct Lease: Codable, Sendable, Equatable {
        public var id: String
        public var job: String
        /// Nil while the job waits for a runner after a lease ran out.
        public var holder: String?
        public var attempt: Int
        public var expires: Date?
        /// How many runners must agree on the job, and how many results are in.
        public var replicas: Int
        public var results: Int

        public init(id: String, job: String, holder: String?, attempt: Int, expires: Date?, replicas: Int = 1, results: Int = 0) {
            self.id = id
            self.job = job
            self.holder = holder
            self.attempt = attempt
            self.expires = expires
            self.replicas = replicas
            self.results = results
        }
    }

    /// Jobs no runner has taken yet.
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
