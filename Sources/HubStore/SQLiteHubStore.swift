import ConstruirSystem
import Foundation
import GRDB
import HubAPI
import JobModel
import ServiceLifecycle

/// The hub's state in one SQLite file (WAL mode, every commit synced): the embedded default,
/// created by `hub serve` in its private state directory.
///
/// Jobs, holds and replicas are tables; a job wanting runners is found through a partial index
/// in pickup order, so a claim reads only the jobs it considers, however many are held or done.
/// GRDB runs each call on its own serial writer queue or reader pool: never on the cooperative
/// pool.
package final class SQLiteHubStore: HubStore {
    package let path: String
    private let database: DatabasePool

    /// Opens (creating it, mode 0600) the database at `path` and brings its schema up to date.
    package init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw SystemError(call: "open", errno: errno, path: path) }
        close(descriptor)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            // Durable before an answer goes out: a hub that loses power keeps every lease it gave.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw ConstruirError(.system, "cannot open the hub's database \(path)", cause: error)
        }
    }

    /// The schema, one migration per release that changed it, in order. Longer than 80 lines on
    /// purpose: it is the schema's history, and it only grows at its end.
    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY NOT NULL,
                    job TEXT NOT NULL,
                    image INTEGER,
                    submitter TEXT,
                    state TEXT NOT NULL,
                    queued REAL NOT NULL,
                    sha256 TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    replicas INTEGER NOT NULL,
                    handed_out INTEGER NOT NULL,
                    failures INTEGER NOT NULL,
                    last_failure TEXT,
                    open_places INTEGER NOT NULL,
                    rank INTEGER NOT NULL,
                    finishing_since REAL,
                    finished REAL,
                    status TEXT,
                    location TEXT
                );
                CREATE INDEX jobs_wanting ON jobs(rank, queued, id) WHERE open_places > 0;
                CREATE INDEX jobs_active ON jobs(state, queued) WHERE state != 'done';
                CREATE INDEX jobs_finishing ON jobs(finishing_since) WHERE state = 'finishing';
                CREATE INDEX jobs_unpublished ON jobs(finished) WHERE state = 'done' AND location IS NULL;
                CREATE INDEX jobs_queued_name ON jobs(job) WHERE state = 'queued';
                CREATE TABLE holds (
                    job_id TEXT NOT NULL,
                    holder TEXT NOT NULL,
                    serial INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    claimed REAL NOT NULL,
                    expires REAL NOT NULL,
                    finishing REAL,
                    PRIMARY KEY (job_id, holder)
                );
                CREATE INDEX holds_holder ON holds(holder, expires);
                CREATE INDEX holds_expiring ON holds(expires) WHERE finishing IS NULL;
                CREATE INDEX holds_finishing ON holds(finishing) WHERE finishing IS NOT NULL;
                CREATE TABLE replicas (
                    job_id TEXT NOT NULL,
                    runner TEXT NOT NULL,
                    serial INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    exit_code INTEGER,
                    output_digest TEXT,
                    PRIMARY KEY (job_id, runner)
                );
                CREATE TABLE runners (
                    name TEXT PRIMARY KEY NOT NULL,
                    agreed INTEGER NOT NULL DEFAULT 0,
                    disputed INTEGER NOT NULL DEFAULT 0,
                    errors INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                """)
        }
        // Listings, newest first: everyone's, and one submitter's.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE INDEX jobs_newest ON jobs(queued DESC, id DESC);
                CREATE INDEX jobs_by_submitter ON jobs(submitter, queued DESC, id DESC);
                """)
        }
        // Stopping a job (its submitter asked).
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN stop_requested REAL")
        }
        // Fair share between submitters: claims go by share, then age.
        migrator.registerMigration("v4") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN share INTEGER NOT NULL DEFAULT 0;
                DROP INDEX jobs_wanting;
                CREATE INDEX jobs_wanting ON jobs(rank, share, queued, id) WHERE open_places > 0;
                CREATE INDEX jobs_share ON jobs(share);
                CREATE TABLE submitters (name TEXT PRIMARY KEY NOT NULL, last_share INTEGER NOT NULL);
                """)
        }
        // The outbox of announced job ends (`--webhook`).
        migrator.registerMigration("v5") { db in
            try db.execute(sql: """
                CREATE TABLE outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, created REAL NOT NULL,
                                     attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL, last_error TEXT);
                CREATE INDEX outbox_due ON outbox(next_at);
                """)
        }
        // Listings by name prefix.
        migrator.registerMigration("v6") { db in
            try db.execute(sql: "CREATE INDEX jobs_name ON jobs(job)")
        }
        // Quorum for real projects: majorities that grow, lease limits, trust and daily quotas.
        migrator.registerMigration("v7") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN max_replicas INTEGER;
                ALTER TABLE jobs ADD COLUMN lease_limit REAL;
                ALTER TABLE jobs ADD COLUMN trust_runner TEXT;
                ALTER TABLE jobs ADD COLUMN trust_agreed_in_a_row INTEGER;
                ALTER TABLE jobs ADD COLUMN trust_replicas INTEGER;
                ALTER TABLE jobs ADD COLUMN tags TEXT;
                ALTER TABLE runners ADD COLUMN agreed_in_a_row INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runners ADD COLUMN quota_halvings INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runners ADD COLUMN day INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE runners ADD COLUMN holds_on_day INTEGER NOT NULL DEFAULT 0;
                """)
        }
        return migrator
    }

    // MARK: HubStore

    /// Nothing: one hub, one file, opened in `init`.
    package func services(onChange: @escaping @Sendable () -> Void) -> [any Service] { [] }

    package func prepare() async throws {}

    package func add(_ jobs: [HubJob]) async throws {
        try await database.write { db in
            for var job in jobs.sorted(by: HubJob.olderFirst) where try Self.exists(db, job.id) == false {
                let front = try Int.fetchOne(db.cachedStatement(sql: "SELECT MIN(share) FROM jobs WHERE open_places > 0 AND rank = 1"))
                    ?? Int.fetchOne(db.cachedStatement(sql: "SELECT MAX(share) FROM jobs")) ?? 0
                let submitter = job.submitter ?? ""
                let last = try Int.fetchOne(db.cachedStatement(sql: "SELECT last_share FROM submitters WHERE name = ?"), arguments: [submitter])
                job.share = HubJob.share(after: last, front: front)
                try db.cachedStatement(sql: """
                    INSERT INTO submitters (name, last_share) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET last_share = max(last_share, excluded.last_share)
                    """).execute(arguments: [submitter, job.share])
                try Self.save(job, previous: nil, in: db)
            }
        }
    }

    package func queuedCount(of submitter: String) async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM jobs WHERE submitter = ? AND state = 'queued'"),
                             arguments: [submitter]) ?? 0
        }
    }

    package func job(_ id: String) async throws -> HubJob? {
        try await database.read { db in try Self.load(db, id) }
    }

    package func update<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout HubJob, inout HubOutcomes) throws -> T) async throws -> T {
        try await database.write { db in
            guard var job = try Self.load(db, id) else { throw HubNotHeld(id: id) }
            let before = job
            var outcomes = HubOutcomes()
            let value = try change(&job, &outcomes)
            if job != before { try Self.save(job, previous: before, in: db) }
            try Self.count(outcomes, in: db)
            return value
        }
    }

    package func claim(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> HubHold? {
        try await database.write { db in
            let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM holds WHERE holder = ? AND finishing IS NULL AND expires > ?",
                                        arguments: [holder, now.timeIntervalSince1970]) ?? 0
            var record = try Self.runner(db, holder)
            guard held < rules.maxLeasesPerRunner, record.mayHold(at: now, daily: rules.dailyQuota),
                  let id = try Self.firstWanted(db, by: holder, rules: rules, accepting: accepting),
                  var job = try Self.load(db, id) else { return nil }
            let before = job
            let alone = rules.trust.flatMap { record.runsAlone(after: $0.after, draw: $0.draw()) ? record.agreedInARow : nil }
            let hold = job.hand(to: holder, now: now, duration: rules.leaseDuration, alone: alone)
            try Self.save(job, previous: before, in: db)
            record.held(at: now)
            try Self.save(record, of: holder, in: db)
            return HubHold(job: job, hold: hold)
        }
    }

    package func hasWork(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> Bool {
        try await database.read { db in
            try Self.firstWanted(db, by: holder, rules: rules, accepting: accepting) != nil
        }
    }

    package func expire(now: Date) async throws -> [HubHold] {
        try await database.write { db in
            let ids = try String.fetchAll(db, sql: "SELECT DISTINCT job_id FROM holds WHERE finishing IS NULL AND expires <= ?",
                                          arguments: [now.timeIntervalSince1970])
            var expired: [HubHold] = []
            var outcomes = HubOutcomes()
            for id in ids {
                guard var job = try Self.load(db, id) else { continue }
                let before = job
                let ended = job.expireHolds(now: now)
                guard !ended.isEmpty else { continue }
                try Self.save(job, previous: before, in: db)
                expired += ended.map { HubHold(job: job, hold: $0) }
                outcomes.add(.error, for: ended.map(\.holder))
            }
            try Self.count(outcomes, in: db)
            return expired
        }
    }

    package func known(_ ids: [String]) async throws -> Set<String> {
        try await database.read { db in
            var found: Set<String> = []
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = chunk.map { _ in "?" }.joined(separator: ",")
                found.formUnion(try String.fetchAll(db, sql: "SELECT id FROM jobs WHERE id IN (\(marks))", arguments: StatementArguments(chunk)))
            }
            return found
        }
    }

    package func jobs(in states: Set<HubJob.State>) async throws -> [HubJob] {
        try await database.read { db in
            let marks = states.map { _ in "?" }.joined(separator: ",")
            return try Self.loadAll(db, where: "jobs.state IN (\(marks))", order: "jobs.queued, jobs.id",
                                    arguments: StatementArguments(states.map(\.rawValue).sorted()))
        }
    }

    package func staleFinishing(before: Date) async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(db, sql: """
                SELECT job_id FROM holds WHERE finishing IS NOT NULL AND finishing <= :before
                UNION SELECT id FROM jobs WHERE state = 'finishing' AND finishing_since <= :before
                """, arguments: ["before": before.timeIntervalSince1970])
        }
    }

    package func unpublished() async throws -> [HubJob] {
        try await database.read { db in
            try Self.loadAll(db, where: "jobs.state = 'done' AND jobs.location IS NULL", order: "jobs.finished", arguments: [])
        }
    }

    package func list(_ query: HubJobQuery) async throws -> [HubJob] {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let states = query.states {
            conditions.append("state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
            arguments += states.sorted { $0.rawValue < $1.rawValue }.map(\.rawValue)
        }
        if let status = query.status {
            conditions.append("status = ?")
            arguments.append(status.rawValue)
        }
        if let prefix = query.namePrefix {
            // The range lets the name index find the few jobs a prefix names; substr keeps it exact.
            conditions.append("job >= ? AND job < ? AND substr(job, 1, ?) = ?")
            arguments += [prefix, prefix + "\u{10FFFF}", prefix.unicodeScalars.count, prefix]
        }
        if let submitter = query.submitter {
            conditions.append("submitter = ?")
            arguments.append(submitter)
        }
        if let after = query.after {
            conditions.append("(queued < ? OR (queued = ? AND id < ?))")
            arguments += [after.queued.timeIntervalSince1970, after.queued.timeIntervalSince1970, after.id]
        }
        arguments.append(query.limit)
        let page = """
            jobs.id IN (SELECT id FROM jobs \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
                        ORDER BY queued DESC, id DESC LIMIT ?)
            """
        let values = arguments.map { $0?.databaseValue ?? .null }
        return try await database.read { db in
            try Self.loadAll(db, where: page, order: "jobs.queued DESC, jobs.id DESC", arguments: StatementArguments(values))
        }
    }

    package func isQueued(name: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND job = ?)", arguments: [name]) ?? false
        }
    }

    package func queuedCount() async throws -> Int {
        try await database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE state = 'queued'") ?? 0
        }
    }

    package func runnerRecords() async throws -> [String: HubRunnerRecord] {
        try await database.read { db in
            var all: [String: HubRunnerRecord] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM runners") {
                all[row["name"]] = Self.record(row)
            }
            return all
        }
    }

    package func runnerRecord(_ runner: String) async throws -> HubRunnerRecord {
        try await database.read { db in try Self.runner(db, runner) }
    }

    private static func runner(_ db: Database, _ name: String) throws -> HubRunnerRecord {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM runners WHERE name = ?"), arguments: [name]).map(record) ?? HubRunnerRecord()
    }

    private static func record(_ row: Row) -> HubRunnerRecord {
        var record = HubRunnerRecord()
        record.agreed = row["agreed"]
        record.disputed = row["disputed"]
        record.errors = row["errors"]
        record.agreedInARow = row["agreed_in_a_row"]
        record.quotaHalvings = row["quota_halvings"]
        record.day = row["day"]
        record.holdsOnDay = row["holds_on_day"]
        return record
    }

    private static func save(_ record: HubRunnerRecord, of name: String, in db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO runners (name, agreed, disputed, errors, agreed_in_a_row, quota_halvings, day, holds_on_day)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [name, record.agreed, record.disputed, record.errors, record.agreedInARow,
                                       record.quotaHalvings, record.day, record.holdsOnDay])
    }

    package func importReputation(_ records: [String: HubStatus.Reputation], once key: String) async throws {
        try await database.write { db in
            guard try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) == nil else { return }
            for (name, record) in records {
                try db.execute(sql: """
                    INSERT INTO runners (name, agreed, disputed, errors) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET agreed = agreed + excluded.agreed, disputed = disputed + excluded.disputed,
                        errors = errors + excluded.errors
                    """, arguments: [name, record.agreed, record.disputed, record.errors])
            }
            try db.execute(sql: "INSERT INTO settings (key, value) VALUES (?, ?)", arguments: [key, ISO8601DateFormatter().string(from: Date())])
        }
    }

    // MARK: Rows

    /// The first job in pickup order that `holder` may take and `accepting` takes, read a page
    /// at a time so that a runner refusing many jobs (other images) still reads few rows.
    private static func firstWanted(_ db: Database, by holder: String, rules: HubRules,
                                    accepting: (HubOffer) -> Bool) throws -> String? {
        let page = 64
        var offset = 0
        while true {
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                SELECT id, job, tags FROM jobs INDEXED BY jobs_wanting
                WHERE open_places > 0 AND failures < :maxAttempts
                  AND NOT EXISTS (SELECT 1 FROM holds WHERE holds.job_id = jobs.id AND holds.holder = :holder)
                  AND NOT EXISTS (SELECT 1 FROM replicas WHERE replicas.job_id = jobs.id AND replicas.runner = :holder)
                ORDER BY rank, share, queued, id LIMIT :page OFFSET :offset
                """), arguments: ["maxAttempts": rules.maxAttempts, "holder": holder, "page": page, "offset": offset])
            for row in rows {
                let file: String = row["job"]
                let offer = JobName(fileName: file).map { HubOffer(name: $0, tags: HubJob.tags(stored: row["tags"])) }
                if offer.map(accepting) ?? true { return row["id"] }
            }
            guard rows.count == page else { return nil }
            offset += page
        }
    }

    private static func exists(_ db: Database, _ id: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)"), arguments: [id]) ?? false
    }

    private static func load(_ db: Database, _ id: String) throws -> HubJob? {
        try loadAll(db, where: "jobs.id = ?", order: "jobs.id", arguments: [id]).first
    }

    /// The jobs `clause` (over `jobs.` columns) selects, in `order`, each with its holds and
    /// replicas: three statements however many jobs, so a page of a thousand leases costs three
    /// reads, not three thousand.
    private static func loadAll(_ db: Database, where clause: String, order: String, arguments: StatementArguments) throws -> [HubJob] {
        var jobs: [HubJob] = []
        var index: [String: Int] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM jobs WHERE \(clause) ORDER BY \(order)"), arguments: arguments) {
            let id: String = row["id"]
            guard let state = HubJob.State(rawValue: row["state"]) else {
                throw ConstruirError(.invalidArgument, "the hub's database has job \(id) in an unknown state")
            }
            var job = HubJob(id: id, job: row["job"], submitter: row["submitter"], queued: date(row["queued"]),
                             sha256: row["sha256"], size: row["size"], replicas: row["replicas"], maxReplicas: row["max_replicas"],
                             leaseLimit: (row["lease_limit"] as Double?).map { .milliseconds(Int64($0 * 1000)) })
            job.tags = HubJob.tags(stored: row["tags"])
            if let runner: String = row["trust_runner"] {
                job.trust = HubJob.Trust(runner: runner, agreedInARow: row["trust_agreed_in_a_row"] ?? 0, replicas: row["trust_replicas"] ?? job.replicas)
            }
            job.state = state
            job.handedOut = row["handed_out"]
            job.failures = row["failures"]
            job.lastFailure = row["last_failure"]
            job.finished = (row["finished"] as Double?).map(date)
            job.finishingSince = (row["finishing_since"] as Double?).map(date)
            job.status = (row["status"] as String?).flatMap(JobResult.Status.init(rawValue:))
            job.location = row["location"]
            job.stopRequested = (row["stop_requested"] as Double?).map(date)
            job.share = row["share"]
            index[id] = jobs.count
            jobs.append(job)
        }
        guard !jobs.isEmpty else { return [] }
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT holds.* FROM holds JOIN jobs ON jobs.id = holds.job_id WHERE \(clause) ORDER BY holds.serial
            """), arguments: arguments) {
            guard let at = index[row["job_id"]] else { continue }
            jobs[at].holds.append(HubJob.Hold(holder: row["holder"], serial: row["serial"], attempt: row["attempt"],
                                              claimed: date(row["claimed"]), expires: date(row["expires"]),
                                              finishing: (row["finishing"] as Double?).map(date)))
        }
        for row in try Row.fetchAll(db.cachedStatement(sql: """
            SELECT replicas.* FROM replicas JOIN jobs ON jobs.id = replicas.job_id WHERE \(clause) ORDER BY replicas.serial
            """), arguments: arguments) {
            guard let at = index[row["job_id"]], let status = JobResult.Status(rawValue: row["status"]) else { continue }
            jobs[at].results.append(HubJob.Replica(runner: row["runner"], serial: row["serial"], attempt: row["attempt"], status: status,
                                                   exitCode: row["exit_code"], outputDigest: row["output_digest"]))
        }
        return jobs
    }

    /// Writes what changed of `job` since `previous` (everything when it is new).
    private static func save(_ job: HubJob, previous: HubJob?, in db: Database) throws {
        let changes = HubJobChanges(from: previous, to: job)
        if changes.job {
            try db.cachedStatement(sql: """
                INSERT INTO jobs (id, job, image, submitter, state, queued, sha256, size, replicas, handed_out, failures,
                                  last_failure, open_places, rank, finishing_since, finished, status, location, stop_requested, share,
                                  max_replicas, lease_limit, trust_runner, trust_agreed_in_a_row, trust_replicas, tags)
                VALUES (:id, :job, :image, :submitter, :state, :queued, :sha256, :size, :replicas, :handedOut, :failures,
                        :lastFailure, :openPlaces, :rank, :finishingSince, :finished, :status, :location, :stopRequested, :share,
                        :maxReplicas, :leaseLimit, :trustRunner, :trustAgreedInARow, :trustReplicas, :tags)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, handed_out = excluded.handed_out,
                    failures = excluded.failures, last_failure = excluded.last_failure, open_places = excluded.open_places,
                    rank = excluded.rank, finishing_since = excluded.finishing_since, finished = excluded.finished, status = excluded.status, location = excluded.location,
                    replicas = excluded.replicas, stop_requested = excluded.stop_requested, max_replicas = excluded.max_replicas,
                    trust_runner = excluded.trust_runner, trust_agreed_in_a_row = excluded.trust_agreed_in_a_row,
                    trust_replicas = excluded.trust_replicas
                """).execute(arguments: [
                    "id": job.id, "job": job.job, "image": job.image, "submitter": job.submitter, "state": job.state.rawValue,
                    "queued": job.queued.timeIntervalSince1970, "sha256": job.sha256, "size": job.size, "replicas": job.replicas,
                    "handedOut": job.handedOut, "failures": job.failures, "lastFailure": job.lastFailure,
                    "openPlaces": job.openPlaces, "rank": job.state == .queued ? 1 : 0,
                    "finishingSince": job.finishingSince?.timeIntervalSince1970, "finished": job.finished?.timeIntervalSince1970, "status": job.status?.rawValue, "location": job.location,
                    "stopRequested": job.stopRequested?.timeIntervalSince1970, "share": job.share,
                    "maxReplicas": job.maxReplicas, "leaseLimit": job.leaseLimit?.seconds, "trustRunner": job.trust?.runner,
                    "trustAgreedInARow": job.trust?.agreedInARow, "trustReplicas": job.trust?.replicas,
                    "tags": job.storedTags,
                ])
        }
        for holder in changes.removedHolders {
            try db.cachedStatement(sql: "DELETE FROM holds WHERE job_id = ? AND holder = ?").execute(arguments: [job.id, holder])
        }
        for hold in changes.holds {
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO holds (job_id, holder, serial, attempt, claimed, expires, finishing) VALUES (?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [job.id, hold.holder, hold.serial, hold.attempt, hold.claimed.timeIntervalSince1970,
                                           hold.expires.timeIntervalSince1970, hold.finishing?.timeIntervalSince1970])
        }
        for runner in changes.removedRunners {
            try db.cachedStatement(sql: "DELETE FROM replicas WHERE job_id = ? AND runner = ?").execute(arguments: [job.id, runner])
        }
        for replica in changes.replicas {
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO replicas (job_id, runner, serial, attempt, status, exit_code, output_digest) VALUES (?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [job.id, replica.runner, replica.serial, replica.attempt, replica.status.rawValue,
                                           replica.exitCode, replica.outputDigest])
        }
    }

    package func dueEvents(now: Date, limit: Int) async throws -> [HubEvent] {
        try await database.read { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT sequence, job_id, created, attempts FROM outbox WHERE next_at <= ? ORDER BY next_at, sequence LIMIT ?
                """), arguments: [now.timeIntervalSince1970, limit]).map {
                HubEvent(sequence: $0["sequence"], jobID: $0["job_id"], created: Self.date($0["created"]), attempts: $0["attempts"])
            }
        }
    }

    package func removeEvent(_ sequence: Int64) async throws {
        try await database.write { db in
            try db.cachedStatement(sql: "DELETE FROM outbox WHERE sequence = ?").execute(arguments: [sequence])
        }
    }

    package func postponeEvent(_ sequence: Int64, until next: Date, error: String) async throws {
        try await database.write { db in
            try db.cachedStatement(sql: "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE sequence = ?")
                .execute(arguments: [next.timeIntervalSince1970, error, sequence])
        }
    }

    private static func count(_ outcomes: HubOutcomes, in db: Database) throws {
        let now = Date().timeIntervalSince1970
        for id in outcomes.announced {
            try db.cachedStatement(sql: "INSERT INTO outbox (job_id, created, next_at) VALUES (?, ?, ?)").execute(arguments: [id, now, now])
        }
        for (name, outcome) in outcomes.counts {
            var record = try runner(db, name)
            record.apply(outcome)
            try save(record, of: name, in: db)
        }
    }

    private static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }
}
