import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The hub's state in PostgreSQL, shared by several hubs (`hub serve --database postgres://…`).
///
/// The rules are `SQLiteHubStore`'s, for many writers: a claim takes the first wanted job with
/// `FOR UPDATE SKIP LOCKED`, so hubs claiming at once never wait for each other's job; a change
/// locks its job's row; one runner's claims are serialised by an advisory lock, so its
/// `--max-leases` holds across every hub. A change that makes work (a job added, a hold given
/// back or run out, a failure) sends a NOTIFY, and each hub's `Listener` wakes its long polls.
/// postgres-nio does its I/O on NIO's event loops: nothing here blocks the cooperative pool.
package final class PostgresHubStore: HubStore {
    package let client: PostgresClient
    private let logger: Logger
    private let schemaReady = Mutex(false)
    private let schemaLock = AsyncLock()
    /// The NOTIFY channel hubs wake each other on.
    static let channel = "construir_hub"

    /// A store for `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`). It connects once
    /// `client` runs (one of `services`); `prepare` then brings the schema up to date.
    package init(url: String, logger: Logger) throws {
        guard let parts = URLComponents(string: url), ["postgres", "postgresql"].contains(parts.scheme ?? ""),
              let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty else {
            throw ConstruirError(.invalidArgument, "--database: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        var configuration = PostgresClient.Configuration(host: host, port: parts.port ?? 5432, username: user,
                                                          password: parts.password, database: database.isEmpty ? nil : database,
                                                          tls: .disable)
        configuration.options.maximumConnections = 16
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// The client's connection pool, and the listener that turns other hubs' NOTIFYs into
    /// `onChange` calls. They go into the service group before the hub, so that they stop after it.
    package func services(onChange: @escaping @Sendable () -> Void) -> [any Service] {
        [client, Listener(store: self, onChange: onChange)]
    }

    struct Listener: Service {
        let store: PostgresHubStore
        let onChange: @Sendable () -> Void

        func run() async throws {
            while !(Task.isCancelled || Task.isShuttingDownGracefully) {
                do {
                    try await store.client.withConnection { connection in
                        try await connection.listen(on: PostgresHubStore.channel) { notifications in
                            onChange()  // whatever happened while not listening
                            for try await _ in notifications.cancelOnGracefulShutdown() { onChange() }
                        }
                    }
                } catch {
                    if (Task.isCancelled || Task.isShuttingDownGracefully) { return }
                    store.logger.warning("lost the database's notifications; listening again in 1 s: \(error)")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    /// Creates the tables if they are missing, once; every call waits for it, so a request that
    /// comes before the hub's start-up work finds the tables there. Hubs starting at once take turns.
    package func prepare() async throws {
        if schemaReady.withLock({ $0 }) { return }
        try await schemaLock.withLock {
            if schemaReady.withLock({ $0 }) { return }
            try await migrate()
            schemaReady.withLock { $0 = true }
        }
    }

    private func migrate() async throws {
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7411)", logger: self.logger)
            for statement in Self.schema {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
            }
        }
    }

    private static let schema = [
        """
        CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY, job TEXT NOT NULL, image BIGINT, submitter TEXT, state TEXT NOT NULL,
            queued DOUBLE PRECISION NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL, replicas BIGINT NOT NULL,
            handed_out BIGINT NOT NULL, failures BIGINT NOT NULL, last_failure TEXT, open_places BIGINT NOT NULL,
            rank BIGINT NOT NULL, finishing_since DOUBLE PRECISION, finished DOUBLE PRECISION, status TEXT, location TEXT)
        """,
        "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS share BIGINT NOT NULL DEFAULT 0",
        "DROP INDEX IF EXISTS jobs_wanting",
        "CREATE INDEX IF NOT EXISTS jobs_fair ON jobs(rank, share, queued, id) WHERE open_places > 0",
        "CREATE INDEX IF NOT EXISTS jobs_share ON jobs(share)",
        "CREATE INDEX IF NOT EXISTS jobs_name ON jobs (job COLLATE \"C\")",
        "CREATE TABLE IF NOT EXISTS submitters (name TEXT PRIMARY KEY, last_share BIGINT NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS outbox (sequence BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
                                           attempts BIGINT NOT NULL DEFAULT 0, next_at DOUBLE PRECISION NOT NULL, last_error TEXT)
        """,
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(next_at)",
        "CREATE INDEX IF NOT EXISTS jobs_active ON jobs(state, queued) WHERE state <> 'done'",
        "CREATE INDEX IF NOT EXISTS jobs_finishing ON jobs(finishing_since) WHERE state = 'finishing'",
        "CREATE INDEX IF NOT EXISTS jobs_unpublished ON jobs(finished) WHERE state = 'done' AND location IS NULL",
        "CREATE INDEX IF NOT EXISTS jobs_queued_name ON jobs(job) WHERE state = 'queued'",
        "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS stop_requested DOUBLE PRECISION",
        "CREATE INDEX IF NOT EXISTS jobs_newest ON jobs(queued DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS jobs_by_submitter ON jobs(submitter, queued DESC, id DESC)",
        """
        CREATE TABLE IF NOT EXISTS holds (
            job_id TEXT NOT NULL, holder TEXT NOT NULL, serial BIGINT NOT NULL, attempt BIGINT NOT NULL,
            claimed DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL, finishing DOUBLE PRECISION,
            PRIMARY KEY (job_id, holder))
        """,
        "CREATE INDEX IF NOT EXISTS holds_holder ON holds(holder, expires)",
        "CREATE INDEX IF NOT EXISTS holds_expiring ON holds(expires) WHERE finishing IS NULL",
        "CREATE INDEX IF NOT EXISTS holds_finishing ON holds(finishing) WHERE finishing IS NOT NULL",
        """
        CREATE TABLE IF NOT EXISTS replicas (
            job_id TEXT NOT NULL, runner TEXT NOT NULL, serial BIGINT NOT NULL, attempt BIGINT NOT NULL,
            status TEXT NOT NULL, exit_code BIGINT, output_digest TEXT, PRIMARY KEY (job_id, runner))
        """,
        """
        CREATE TABLE IF NOT EXISTS runners (
            name TEXT PRIMARY KEY, agreed BIGINT NOT NULL DEFAULT 0, disputed BIGINT NOT NULL DEFAULT 0,
            errors BIGINT NOT NULL DEFAULT 0)
        """,
        "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        // Quorum for real projects: majorities that grow, lease limits, trust and daily quotas.
        """
        ALTER TABLE jobs ADD COLUMN IF NOT EXISTS max_replicas BIGINT, ADD COLUMN IF NOT EXISTS lease_limit DOUBLE PRECISION,
            ADD COLUMN IF NOT EXISTS trust_runner TEXT, ADD COLUMN IF NOT EXISTS trust_agreed_in_a_row BIGINT,
            ADD COLUMN IF NOT EXISTS trust_replicas BIGINT, ADD COLUMN IF NOT EXISTS tags TEXT
        """,
        """
        ALTER TABLE runners ADD COLUMN IF NOT EXISTS agreed_in_a_row BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS quota_halvings BIGINT NOT NULL DEFAULT 0, ADD COLUMN IF NOT EXISTS day BIGINT NOT NULL DEFAULT 0,
            ADD COLUMN IF NOT EXISTS holds_on_day BIGINT NOT NULL DEFAULT 0
        """,
    ]

    // MARK: HubStore

    package func add(_ jobs: [HubJob]) async throws {
        try await prepare()
        guard !jobs.isEmpty else { return }
        try await transaction { connection in
            for var job in jobs.sorted(by: HubJob.olderFirst) {
                let exists = try await self.scalar(connection, "SELECT count(*) FROM jobs WHERE id = \(job.id)", as: Int.self) ?? 0
                guard exists == 0 else { continue }
                let front = try await self.scalar(connection, """
                    SELECT COALESCE((SELECT MIN(share) FROM jobs WHERE open_places > 0 AND rank = 1), (SELECT MAX(share) FROM jobs), 0)
                    """, as: Int.self) ?? 0
                let submitter = job.submitter ?? ""
                let last = try await self.scalar(connection, "SELECT last_share FROM submitters WHERE name = \(submitter)", as: Int.self)
                job.share = HubJob.share(after: last, front: front)
                try await connection.query("""
                    INSERT INTO submitters (name, last_share) VALUES (\(submitter), \(job.share))
                    ON CONFLICT (name) DO UPDATE SET last_share = GREATEST(submitters.last_share, excluded.last_share)
                    """, logger: self.logger)
                try await self.save(job, previous: nil, connection)
            }
            try await self.notify(connection)
        }
    }

    package func job(_ id: String) async throws -> HubJob? {
        try await prepare()
        return try await client.withConnection { connection in try await self.load(connection, id, locking: false) }
    }

    package func update<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout HubJob, inout HubOutcomes) throws -> T) async throws -> T {
        try await prepare()
        return try await transaction { connection in
            guard var job = try await self.load(connection, id, locking: true) else { throw HubNotHeld(id: id) }
            let before = job
            var outcomes = HubOutcomes()
            let value = try change(&job, &outcomes)
            if job != before {
                try await self.save(job, previous: before, connection)
                if job.openPlaces > 0 && (job.holds.count < before.holds.count || job.failures > before.failures) {
                    try await self.notify(connection)
                }
            }
            try await self.count(outcomes, connection)
            return value
        }
    }

    package func claim(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> HubHold? {
        try await prepare()
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(holder)))", logger: self.logger)
            let seconds = now.timeIntervalSince1970
            let held = try await self.scalar(connection, """
                SELECT count(*) FROM holds WHERE holder = \(holder) AND finishing IS NULL AND expires > \(seconds)
                """, as: Int.self) ?? 0
            var record = try await self.lockedRecord(of: holder, connection)
            guard held < rules.maxLeasesPerRunner, record.mayHold(at: now, daily: rules.dailyQuota),
                  let id = try await self.firstWanted(connection, by: holder, rules: rules, locking: true, accepting: accepting),
                  var job = try await self.load(connection, id, locking: false),
                  job.wantsRunner(holder, maxAttempts: rules.maxAttempts) else { return nil }
            let before = job
            let alone = rules.trust.flatMap { record.runsAlone(after: $0.after, draw: $0.draw()) ? record.agreedInARow : nil }
            let hold = job.hand(to: holder, now: now, duration: rules.leaseDuration, alone: alone)
            try await self.save(job, previous: before, connection)
            record.held(at: now)
            try await self.save(record, of: holder, connection)
            return HubHold(job: job, hold: hold)
        }
    }

    package func hasWork(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> Bool {
        try await prepare()
        return try await client.withConnection { connection in
            try await self.firstWanted(connection, by: holder, rules: rules, locking: false, accepting: accepting) != nil
        }
    }

    package func expire(now: Date) async throws -> [HubHold] {
        try await prepare()
        return try await transaction { connection in
            let seconds = now.timeIntervalSince1970
            let rows = try await connection.query("""
                SELECT id FROM jobs WHERE id IN (SELECT job_id FROM holds WHERE finishing IS NULL AND expires <= \(seconds))
                FOR UPDATE SKIP LOCKED
                """, logger: self.logger)
            var ids: [String] = []
            for try await row in rows { ids.append(try row.decode(String.self)) }
            var expired: [HubHold] = []
            var outcomes = HubOutcomes()
            for id in ids {
                guard var job = try await self.load(connection, id, locking: false) else { continue }
                let before = job
                let ended = job.expireHolds(now: now)
                guard !ended.isEmpty else { continue }
                try await self.save(job, previous: before, connection)
                expired += ended.map { HubHold(job: job, hold: $0) }
                outcomes.add(.error, for: ended.map(\.holder))
            }
            try await self.count(outcomes, connection)
            if !expired.isEmpty { try await self.notify(connection) }
            return expired
        }
    }

    package func known(_ ids: [String]) async throws -> Set<String> {
        try await prepare()
        return try await client.withConnection { connection in
            Set(try await self.strings(connection, "SELECT id FROM jobs WHERE id = ANY(\(ids))"))
        }
    }

    package func jobs(in states: Set<HubJob.State>) async throws -> [HubJob] {
        try await prepare()
        let names = states.map(\.rawValue)
        return try await client.withConnection { connection in
            try await self.loadAll(connection, "SELECT id FROM jobs WHERE state = ANY(\(names)) ORDER BY queued, id")
        }
    }

    package func staleFinishing(before: Date) async throws -> [String] {
        try await prepare()
        let seconds = before.timeIntervalSince1970
        return try await client.withConnection { connection in
            try await self.strings(connection, """
                SELECT job_id FROM holds WHERE finishing IS NOT NULL AND finishing <= \(seconds)
                UNION SELECT id FROM jobs WHERE state = 'finishing' AND finishing_since <= \(seconds)
                """)
        }
    }

    package func unpublished() async throws -> [HubJob] {
        try await prepare()
        return try await client.withConnection { connection in
            try await self.loadAll(connection, "SELECT id FROM jobs WHERE state = 'done' AND location IS NULL ORDER BY finished")
        }
    }

    package func list(_ query: HubJobQuery) async throws -> [HubJob] {
        try await prepare()
        var select: PostgresQuery = "SELECT id FROM jobs WHERE true"
        if let states = query.states {
            let names = states.map(\.rawValue)
            select.sql += " AND state = ANY($\(select.binds.count + 1))"
            select.binds.append(names)
        }
        if let status = query.status {
            select.sql += " AND status = $\(select.binds.count + 1)"
            select.binds.append(status.rawValue)
        }
        if let prefix = query.namePrefix {
            // Byte order ("C"), so that the name index finds the range; starts_with keeps it exact.
            let at = select.binds.count
            select.sql += " AND job COLLATE \"C\" >= $\(at + 1) AND job COLLATE \"C\" < $\(at + 2) AND starts_with(job, $\(at + 1))"
            select.binds.append(prefix)
            select.binds.append(prefix + "\u{10FFFF}")
        }
        if let submitter = query.submitter {
            select.sql += " AND submitter = $\(select.binds.count + 1)"
            select.binds.append(submitter)
        }
        if let after = query.after {
            let at = select.binds.count
            select.sql += " AND (queued < $\(at + 1) OR (queued = $\(at + 1) AND id < $\(at + 2)))"
            select.binds.append(after.queued.timeIntervalSince1970)
            select.binds.append(after.id)
        }
        select.sql += " ORDER BY queued DESC, id DESC LIMIT $\(select.binds.count + 1)"
        select.binds.append(query.limit)
        return try await client.withConnection { connection in
            try await self.loadAll(connection, select)
        }
    }

    package func isQueued(name: String) async throws -> Bool {
        try await prepare()
        return try await client.withConnection { connection in
            (try await self.scalar(connection, "SELECT count(*) FROM jobs WHERE state = 'queued' AND job = \(name)", as: Int.self) ?? 0) > 0
        }
    }

    package func queuedCount(of submitter: String) async throws -> Int {
        try await prepare()
        return try await client.withConnection { connection in
            try await self.scalar(connection, "SELECT count(*) FROM jobs WHERE submitter = \(submitter) AND state = 'queued'", as: Int.self) ?? 0
        }
    }

    package func queuedCount() async throws -> Int {
        try await prepare()
        return try await client.withConnection { connection in
            try await self.scalar(connection, "SELECT count(*) FROM jobs WHERE state = 'queued'", as: Int.self) ?? 0
        }
    }

    package func runnerRecords() async throws -> [String: HubRunnerRecord] {
        try await prepare()
        return try await client.withConnection { connection in
            var all: [String: HubRunnerRecord] = [:]
            for try await row in try await connection.query("SELECT \(unescaped: Self.recordColumns) FROM runners", logger: self.logger) {
                let (name, record) = try Self.record(row)
                all[name] = record
            }
            return all
        }
    }

    package func runnerRecord(_ runner: String) async throws -> HubRunnerRecord {
        try await prepare()
        return try await client.withConnection { connection in
            for try await row in try await connection.query("SELECT \(unescaped: Self.recordColumns) FROM runners WHERE name = \(runner)",
                                                            logger: self.logger) {
                return try Self.record(row).1
            }
            return HubRunnerRecord()
        }
    }

    private static let recordColumns = "name, agreed, disputed, errors, agreed_in_a_row, quota_halvings, day, holds_on_day"

    private static func record(_ row: PostgresRow) throws -> (String, HubRunnerRecord) {
        let (name, agreed, disputed, errors, inARow, halvings, day, holds) = try row.decode((String, Int, Int, Int, Int, Int, Int, Int).self)
        var record = HubRunnerRecord()
        (record.agreed, record.disputed, record.errors, record.agreedInARow) = (agreed, disputed, errors, inARow)
        (record.quotaHalvings, record.day, record.holdsOnDay) = (halvings, day, holds)
        return (name, record)
    }

    /// `name`'s record, its row locked for this transaction (made first when there is none).
    private func lockedRecord(of name: String, _ connection: PostgresConnection) async throws -> HubRunnerRecord {
        try await connection.query("INSERT INTO runners (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING", logger: logger)
        for try await row in try await connection.query("SELECT \(unescaped: Self.recordColumns) FROM runners WHERE name = \(name) FOR UPDATE",
                                                        logger: logger) {
            return try Self.record(row).1
        }
        return HubRunnerRecord()
    }

    private func save(_ record: HubRunnerRecord, of name: String, _ connection: PostgresConnection) async throws {
        try await connection.query("""
            UPDATE runners SET agreed = \(record.agreed), disputed = \(record.disputed), errors = \(record.errors),
                agreed_in_a_row = \(record.agreedInARow), quota_halvings = \(record.quotaHalvings), day = \(record.day),
                holds_on_day = \(record.holdsOnDay)
            WHERE name = \(name)
            """, logger: logger)
    }

    package func importReputation(_ records: [String: HubStatus.Reputation], once key: String) async throws {
        try await prepare()
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7412)", logger: self.logger)
            guard try await self.scalar(connection, "SELECT value FROM settings WHERE key = \(key)", as: String.self) == nil else { return }
            for (name, record) in records {
                try await connection.query("""
                    INSERT INTO runners (name, agreed, disputed, errors) VALUES (\(name), \(record.agreed), \(record.disputed), \(record.errors))
                    ON CONFLICT (name) DO UPDATE SET agreed = runners.agreed + excluded.agreed,
                        disputed = runners.disputed + excluded.disputed, errors = runners.errors + excluded.errors
                    """, logger: self.logger)
            }
            let now = ISO8601DateFormatter().string(from: Date())
            try await connection.query("INSERT INTO settings (key, value) VALUES (\(key), \(now))", logger: self.logger)
        }
    }

    // MARK: Rows

    /// One transaction; what `body` threw comes out as it was (postgres-nio wraps it), so a
    /// `HubNotHeld` stays one.
    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.withTransaction(logger: self.logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            if let thrown = error.closureError, error.rollbackError == nil { throw thrown }
            throw error
        }
    }

    private func notify(_ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_notify(\(Self.channel), '')", logger: logger)
    }

    private func scalar<T: PostgresDecodable>(_ connection: PostgresConnection, _ query: PostgresQuery, as: T.Type) async throws -> T? {
        for try await row in try await connection.query(query, logger: logger) { return try row.decode(T.self) }
        return nil
    }

    private func strings(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [String] {
        var all: [String] = []
        for try await row in try await connection.query(query, logger: logger) { all.append(try row.decode(String.self)) }
        return all
    }


    /// The first job in pickup order that `holder` may take and `accepting` takes. With
    /// `locking`, that one row is locked for this transaction, skipping rows other claims hold:
    /// candidates are read a page at a time without locks (the filter is Swift's), and then
    /// `LIMIT 1 … FOR UPDATE SKIP LOCKED` locks exactly one of the accepted ones. Locking a
    /// whole page would hide its other jobs from every claim in flight.
    private func firstWanted(_ connection: PostgresConnection, by holder: String, rules: HubRules, locking: Bool,
                             accepting: (HubOffer) -> Bool) async throws -> String? {
        let page = 32
        var offset = 0
        while true {
            var count = 0
            var accepted: [String] = []
            for try await row in try await connection.query("""
                SELECT id, job, tags FROM jobs
                WHERE open_places > 0 AND failures < \(rules.maxAttempts)
                  AND NOT EXISTS (SELECT 1 FROM holds WHERE holds.job_id = jobs.id AND holds.holder = \(holder))
                  AND NOT EXISTS (SELECT 1 FROM replicas WHERE replicas.job_id = jobs.id AND replicas.runner = \(holder))
                ORDER BY rank, share, queued, id LIMIT \(page) OFFSET \(offset)
                """, logger: logger) {
                count += 1
                let (id, file, tags) = try row.decode((String, String, String?).self)
                let offer = JobName(fileName: file).map { HubOffer(name: $0, tags: HubJob.tags(stored: tags)) }
                if offer.map(accepting) ?? true { accepted.append(id) }
            }
            if !accepted.isEmpty {
                guard locking else { return accepted[0] }
                if let id = try await scalar(connection, """
                    SELECT id FROM jobs WHERE id = ANY(\(accepted)) AND open_places > 0 AND failures < \(rules.maxAttempts)
                    ORDER BY rank, share, queued, id LIMIT 1 FOR UPDATE SKIP LOCKED
                    """, as: String.self) {
                    return id
                }
            }
            guard count == page else { return nil }
            offset += page
        }
    }

    /// The jobs whose ids `query` selects, in its order, each with its holds and replicas: four
    /// statements however many jobs.
    private func loadAll(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [HubJob] {
        let ids = try await strings(connection, query)
        guard !ids.isEmpty else { return [] }
        return try await load(connection, ids, locking: false)
    }

    private func load(_ connection: PostgresConnection, _ id: String, locking: Bool) async throws -> HubJob? {
        try await load(connection, [id], locking: locking).first
    }

    /// Jobs `ids`, in that order (missing ones left out); with `locking`, their rows are locked
    /// for this transaction.
    private func load(_ connection: PostgresConnection, _ ids: [String], locking: Bool) async throws -> [HubJob] {
        var query: PostgresQuery = """
            SELECT id, job, submitter, state, queued, sha256, size, replicas, handed_out, failures, last_failure,
                   finishing_since, finished, status, location, stop_requested, share, max_replicas, lease_limit,
                   trust_runner, trust_agreed_in_a_row, trust_replicas, tags FROM jobs WHERE id = ANY(\(ids))
            """
        if locking { query.sql += " FOR UPDATE" }
        var found: [String: HubJob] = [:]
        for try await row in try await connection.query(query, logger: logger) {
            let (id, file, submitter, state, queued, sha256, size, replicas, handedOut, failures, lastFailure) =
                try row.decode((String, String, String?, String, Double, String, Int64, Int, Int, Int, String?).self)
            let cells = row.makeRandomAccess()
            guard let state = HubJob.State(rawValue: state) else {
                throw ConstruirError(.invalidArgument, "the hub's database has job \(id) in an unknown state")
            }
            var job = HubJob(id: id, job: file, submitter: submitter, queued: Date(timeIntervalSince1970: queued), sha256: sha256,
                             size: size, replicas: replicas, maxReplicas: try cells["max_replicas"].decode(Int?.self),
                             leaseLimit: try cells["lease_limit"].decode(Double?.self).map { .milliseconds(Int64($0 * 1000)) })
            job.tags = HubJob.tags(stored: try cells["tags"].decode(String?.self))
            if let runner = try cells["trust_runner"].decode(String?.self) {
                job.trust = HubJob.Trust(runner: runner, agreedInARow: try cells["trust_agreed_in_a_row"].decode(Int?.self) ?? 0,
                                         replicas: try cells["trust_replicas"].decode(Int?.self) ?? job.replicas)
            }
            job.state = state
            job.handedOut = handedOut
            job.failures = failures
            job.lastFailure = lastFailure
            job.finishingSince = try cells["finishing_since"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
            job.finished = try cells["finished"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
            job.status = try cells["status"].decode(String?.self).flatMap(JobResult.Status.init(rawValue:))
            job.location = try cells["location"].decode(String?.self)
            job.stopRequested = try cells["stop_requested"].decode(Double?.self).map(Date.init(timeIntervalSince1970:))
            job.share = try cells["share"].decode(Int.self)
            found[id] = job
        }
        guard !found.isEmpty else { return [] }
        for try await row in try await connection.query("""
            SELECT job_id, holder, serial, attempt, claimed, expires, finishing FROM holds WHERE job_id = ANY(\(ids)) ORDER BY serial
            """, logger: logger) {
            let (id, holder, serial, attempt, claimed, expires, finishing) = try row.decode((String, String, Int, Int, Double, Double, Double?).self)
            found[id]?.holds.append(HubJob.Hold(holder: holder, serial: serial, attempt: attempt, claimed: Date(timeIntervalSince1970: claimed),
                                                expires: Date(timeIntervalSince1970: expires),
                                                finishing: finishing.map(Date.init(timeIntervalSince1970:))))
        }
        for try await row in try await connection.query("""
            SELECT job_id, runner, serial, attempt, status, exit_code, output_digest FROM replicas WHERE job_id = ANY(\(ids)) ORDER BY serial
            """, logger: logger) {
            let (id, runner, serial, attempt, status, exitCode, digest) = try row.decode((String, String, Int, Int, String, Int?, String?).self)
            guard let status = JobResult.Status(rawValue: status) else { continue }
            found[id]?.results.append(HubJob.Replica(runner: runner, serial: serial, attempt: attempt, status: status, exitCode: exitCode,
                                                     outputDigest: digest))
        }
        return ids.compactMap { found[$0] }
    }

    /// Writes what changed of `job` since `previous` (everything when it is new).
    private func save(_ job: HubJob, previous: HubJob?, _ connection: PostgresConnection) async throws {
        let changes = HubJobChanges(from: previous, to: job)
        let state = job.state.rawValue
        let rank = job.state == .queued ? 1 : 0
        if changes.job {
            try await connection.query("""
                INSERT INTO jobs (id, job, image, submitter, state, queued, sha256, size, replicas, handed_out, failures,
                                  last_failure, open_places, rank, finishing_since, finished, status, location, stop_requested, share,
                                  max_replicas, lease_limit, trust_runner, trust_agreed_in_a_row, trust_replicas, tags)
                VALUES (\(job.id), \(job.job), \(job.image), \(job.submitter), \(state), \(job.queued.timeIntervalSince1970),
                        \(job.sha256), \(job.size), \(job.replicas), \(job.handedOut), \(job.failures), \(job.lastFailure),
                        \(job.openPlaces), \(rank), \(job.finishingSince?.timeIntervalSince1970), \(job.finished?.timeIntervalSince1970),
                        \(job.status?.rawValue), \(job.location), \(job.stopRequested?.timeIntervalSince1970), \(job.share),
                        \(job.maxReplicas), \(job.leaseLimit?.seconds), \(job.trust?.runner), \(job.trust?.agreedInARow), \(job.trust?.replicas),
                        \(job.storedTags))
                ON CONFLICT (id) DO UPDATE SET state = excluded.state, handed_out = excluded.handed_out,
                    failures = excluded.failures, last_failure = excluded.last_failure, open_places = excluded.open_places,
                    rank = excluded.rank, finishing_since = excluded.finishing_since, finished = excluded.finished,
                    status = excluded.status, location = excluded.location, replicas = excluded.replicas,
                    stop_requested = excluded.stop_requested, max_replicas = excluded.max_replicas, trust_runner = excluded.trust_runner,
                    trust_agreed_in_a_row = excluded.trust_agreed_in_a_row, trust_replicas = excluded.trust_replicas
                """, logger: logger)
        }
        for holder in changes.removedHolders {
            try await connection.query("DELETE FROM holds WHERE job_id = \(job.id) AND holder = \(holder)", logger: logger)
        }
        for hold in changes.holds {
            try await connection.query("""
                INSERT INTO holds (job_id, holder, serial, attempt, claimed, expires, finishing)
                VALUES (\(job.id), \(hold.holder), \(hold.serial), \(hold.attempt), \(hold.claimed.timeIntervalSince1970),
                        \(hold.expires.timeIntervalSince1970), \(hold.finishing?.timeIntervalSince1970))
                ON CONFLICT (job_id, holder) DO UPDATE SET serial = excluded.serial, attempt = excluded.attempt,
                    claimed = excluded.claimed, expires = excluded.expires, finishing = excluded.finishing
                """, logger: logger)
        }
        for runner in changes.removedRunners {
            try await connection.query("DELETE FROM replicas WHERE job_id = \(job.id) AND runner = \(runner)", logger: logger)
        }
        for replica in changes.replicas {
            try await connection.query("""
                INSERT INTO replicas (job_id, runner, serial, attempt, status, exit_code, output_digest)
                VALUES (\(job.id), \(replica.runner), \(replica.serial), \(replica.attempt), \(replica.status.rawValue),
                        \(replica.exitCode), \(replica.outputDigest))
                ON CONFLICT (job_id, runner) DO UPDATE SET serial = excluded.serial, attempt = excluded.attempt,
                    status = excluded.status, exit_code = excluded.exit_code, output_digest = excluded.output_digest
                """, logger: logger)
        }
    }

    package func dueEvents(now: Date, limit: Int) async throws -> [HubEvent] {
        try await prepare()
        return try await client.withConnection { connection in
            var events: [HubEvent] = []
            for try await row in try await connection.query("""
                SELECT sequence, job_id, created, attempts FROM outbox WHERE next_at <= \(now.timeIntervalSince1970)
                ORDER BY next_at, sequence LIMIT \(limit)
                """, logger: self.logger) {
                let (sequence, id, created, attempts) = try row.decode((Int64, String, Double, Int).self)
                events.append(HubEvent(sequence: sequence, jobID: id, created: Date(timeIntervalSince1970: created), attempts: attempts))
            }
            return events
        }
    }

    package func removeEvent(_ sequence: Int64) async throws {
        try await prepare()
        try await client.withConnection { connection in
            _ = try await connection.query("DELETE FROM outbox WHERE sequence = \(sequence)", logger: self.logger)
        }
    }

    package func postponeEvent(_ sequence: Int64, until next: Date, error: String) async throws {
        try await prepare()
        try await client.withConnection { connection in
            _ = try await connection.query("""
                UPDATE outbox SET attempts = attempts + 1, next_at = \(next.timeIntervalSince1970), last_error = \(error) WHERE sequence = \(sequence)
                """, logger: self.logger)
        }
    }

    private func count(_ outcomes: HubOutcomes, _ connection: PostgresConnection) async throws {
        let now = Date().timeIntervalSince1970
        for id in outcomes.announced {
            try await connection.query("INSERT INTO outbox (job_id, created, next_at) VALUES (\(id), \(now), \(now))", logger: logger)
        }
        for (runner, outcome) in outcomes.counts {
            var record = try await lockedRecord(of: runner, connection)
            record.apply(outcome)
            try await save(record, of: runner, connection)
        }
    }
}
