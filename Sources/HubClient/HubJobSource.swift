import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Logging
import Runner
import Synchronization

/// Jobs from a hub, results back to it: `construir run --hub URL`.
///
/// The runner asks for a job only when a slot is free. When the hub has none, this source
/// holds one long poll open (`GET /api/v1/work`) until it has, and wakes the runner: an idle
/// runner sends one request a half minute and no more. A claimed job is downloaded into
/// `STATE/running/ID/` (the lease id) and run there like any other. While the runner holds a
/// lease, heartbeats go out every third of the lease's length. A finished job's console log,
/// output archive and result.json are uploaded; while the hub cannot be reached the job stays
/// on disk and the runner tries again with backoff. A job the runner gives back (it is
/// stopping) is released to the hub.
package final class HubJobSource: JobSource {
    package let client: HubClient
    /// `STATE/running`: one directory per leased job.
    package let runningDirectory: String
    private let identity: RunnerIdentity?
    private let logger: Logger
    /// How long one long poll waits before asking again.
    private let pollSeconds: Int
    /// Held for the life of the source: a second runner on the same state directory would take
    /// this one's jobs for leftovers of a dead runner and give them back.
    private let lock: FileLock
    /// The runner's build images: their digests go with each claim, so that a hub serving
    /// images hands out only jobs whose image here is the hub's. Nil: none are named.
    private let images: ImageStore?
    /// The executor's digests, so a claim hashes nothing the executor already hashed.
    private let digests: ImageDigestCache
    private let defaultImage: Int
    /// The runner's tags (`RunnerTags`), sent with each claim; the hub adds the ones it grants its token.
    private let tags: Set<String>
    /// `run --pull-images`: fetch the hub's images that differ from ours at start, and again
    /// while idle, at most once per `imageCheckInterval`.
    private let pullImages: Bool
    static let imageCheckInterval = Duration.seconds(60)

    private struct State {
        /// Whether the hub may have work: false after a claim found none, until the long poll says so.
        var workMayExist = true
        /// Held leases and their lengths, for the heartbeats.
        var held: [String: Double] = [:]
        /// How much of each held job's console the hub has; absent once it is full (`--max-console`).
        var consoleSent: [String: Int64] = [:]
        /// Jobs with a committed result that a runner before this one left undelivered.
        var leftovers: [ClaimedJob] = []
        /// When the hub's image list was last compared with ours (`pullImages`).
        var imagesChecked: ContinuousClock.Instant?
        /// Why the hub last refused this runner any job (logged once per change).
        var refusal: String?
    }
    private let state = Mutex(State())
    /// Wakes the long poll (a claim found nothing) and the heartbeat loop (a lease was taken).
    private let wantWork = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    private let heldChanged = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The same news, for the live console's loop.
    private let heldChangedForConsoles = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    /// The lease file in each running directory: the claim as the hub sent it.
    static let claimFile = "hub-claim.json"

    /// - Parameter identity: the runner's, when it should name itself in each running job's
    ///   `claim.json` (what `construir status --state` reads).
    package init(client: HubClient, stateDirectory: String, pollSeconds: Int = 30, logger: Logger, images: ImageStore? = nil,
                digests: ImageDigestCache = ImageDigestCache(), defaultImage: Int = 0, pullImages: Bool = false,
                identity: RunnerIdentity? = nil, tags: Set<String> = []) throws {
        self.client = client
        self.tags = tags
        self.identity = identity
        self.images = images
        self.digests = digests
        self.defaultImage = defaultImage
        self.pullImages = pullImages && images != nil
        self.runningDirectory = "\(stateDirectory)/running"
        self.pollSeconds = pollSeconds
        self.logger = logger
        try PrivateDirectory.make(stateDirectory)
        try PrivateDirectory.make(runningDirectory)
        guard let lock = try FileLock.tryLock("\(stateDirectory)/hub-runner.lock", mode: 0o600) else {
            throw ConstruirError(.invalidArgument, "another pull runner uses the state directory \(stateDirectory): give each its own --state")
        }
        self.lock = lock
    }

    package func watch(onChange: @escaping @Sendable () -> Void) async throws {
        logger.info("pulling jobs from the hub", metadata: ["hub": "\(client.baseURL)"])
        onChange()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.pollForWork(onChange: onChange) }
            group.addTask { await self.sendHeartbeats() }
            group.addTask { await self.sendConsoles() }
        }
    }

    /// Holds the long poll open while a claim found nothing; backs off while the hub is away.
    private func pollForWork(onChange: @escaping @Sendable () -> Void) async {
        var wanted = wantWork.stream.makeAsyncIterator()
        var backoff = Duration.seconds(1)
        while !Task.isCancelled {
            if state.withLock({ $0.workMayExist }) {
                guard await wanted.next() != nil else { return }
                continue
            }
            do {
                if try await client.waitForWork(seconds: pollSeconds) {
                    state.withLock { $0.workMayExist = true }
                    onChange()
                } else if pullImages, state.withLock({ $0.imagesChecked.map { ContinuousClock.now - $0 >= Self.imageCheckInterval } ?? true }) {
                    await pullChangedImages()
                }
                backoff = .seconds(1)
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot reach the hub; trying again in \(backoff): \(error)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(60))
            }
        }
    }

    /// A heartbeat for every held lease, every third of its length and at least every 5 s: the
    /// answer is how a runner learns that a job's submitter stopped it.
    private func sendHeartbeats() async {
        var changes = heldChanged.stream.makeAsyncIterator()
        while !Task.isCancelled {
            let held = state.withLock { $0.held }
            guard let shortest = held.values.min() else {
                guard await changes.next() != nil else { return }
                continue
            }
            try? await Task.sleep(for: .milliseconds(Int64(min(shortest / 3, 5) * 1000)))
            for id in held.keys where !Task.isCancelled {
                guard state.withLock({ $0.held[id] != nil }) else { continue }
                do {
                    if try await client.heartbeat(id).stop == true { await stop(id) }
                } catch let error as HubClientError where error.kind == .leaseLost {
                    state.withLock { _ = $0.held.removeValue(forKey: id) }
                    logger.error("the hub no longer leases this job to us (its lease ran out); its result will be refused", metadata: ["lease": "\(id)"])
                } catch {
                    logger.warning("heartbeat failed: \(error)", metadata: ["lease": "\(id)"])
                }
            }
        }
    }

    /// While jobs run, their consoles go to the hub as they grow, a second apart at most, so
    /// that their submitters can follow them. An append's answer, like a heartbeat's, says
    /// whether a job was stopped. Idle (no lease held), the loop waits without waking.
    private func sendConsoles() async {
        var changes = heldChangedForConsoles.stream.makeAsyncIterator()
        while !Task.isCancelled {
            let sent = state.withLock { state in state.held.keys.map { ($0, state.consoleSent[$0]) } }
            if sent.isEmpty {
                guard await changes.next() != nil else { return }
                continue
            }
            for (id, offset) in sent where !Task.isCancelled {
                guard let offset else { continue }
                await appendConsole(id, from: offset)
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Sends what job `id`'s console gained past `offset` (a MiB at most at a time).
    private func appendConsole(_ id: String, from offset: Int64) async {
        let path = "\(runningDirectory)/\(id)/\(JobFiles.consoleLog)"
        do {
            let file = try await PooledFile(path: path, writing: false)
            let size = try await file.size()
            guard size > offset else { return }
            var bytes: [UInt8] = []
            for try await chunk in file.chunks(from: offset, to: min(size, offset + (1 << 20))) { bytes += chunk.readableBytesView }
            let reply = try await client.appendConsole(id, offset: offset, bytes: bytes[...])
            state.withLock { if $0.held[id] != nil { $0.consoleSent[id] = reply.size } }
            if reply.stop == true { await stop(id) }
        } catch let error as HubClientError where error.kind == .refused {
            state.withLock { _ = $0.consoleSent.removeValue(forKey: id) }
            logger.notice("the hub keeps no more of this job's console (--max-console); the rest goes with the result", metadata: ["lease": "\(id)"])
        } catch {
            // No console yet, the lease is gone, or the hub is away: the next second tries again,
            // and the final upload carries everything anyway.
        }
    }

    /// The job's submitter stopped it: the executor, which looks for a kill request every half
    /// second, destroys the VM (or never boots it), and the job is delivered as `killed`.
    private func stop(_ id: String) async {
        let directory = "\(runningDirectory)/\(id)"
        do {
            try await OwnThread.run("construir-kill") { try KillRequest(host: "hub").write(in: directory) }
            logger.notice("the hub says the job's submitter stopped it; stopping it", metadata: ["lease": "\(id)"])
        } catch {
            logger.warning("cannot ask for the stopped job to end: \(error)", metadata: ["lease": "\(id)"])
        }
    }

    /// A job with a committed result is delivered again; one without is given back to the hub
    /// (the runner that held it died; its lease may already have run out).
    package func recover() async {
        if pullImages { await pullChangedImages() }
        let running = runningDirectory
        let found = (try? await OwnThread.run("construir-hub-recover") { () -> [(id: String, claim: HubClaim?)] in
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: running)) ?? []
            return entries.filter { !$0.hasPrefix(".") }.map { id in
                (id, (try? Data(contentsOf: URL(fileURLWithPath: "\(running)/\(id)/\(Self.claimFile)")))
                    .flatMap { try? HubJSON.decode(HubClaim.self, from: $0) })
            }
        }) ?? []
        for (id, claim) in found {
            let directory = "\(runningDirectory)/\(id)"
            if let claim, let job = Self.claimedJob(claim, directory: directory, slot: 1), job.hasResult {
                state.withLock {
                    $0.leftovers.append(job)
                    $0.held[claim.id] = claim.leaseSeconds
                }
                heldChanged.continuation.yield()
                continue
            }
            if let claim { try? await client.release(claim.id) }
            try? await removeDirectory(directory)
            logger.notice("gave back a job a previous runner left unfinished", metadata: ["lease": "\(id)"])
        }
    }

    package func claim(slot: Int, prepareTakeOver: @escaping @Sendable (String) async -> Void) async -> ClaimedJob? {
        if let leftover = state.withLock({ $0.leftovers.popLast() }) { return leftover }
        guard state.withLock({ $0.workMayExist }) else { return nil }
        let claim: HubClaim
        do {
            let request = HubClaimRequest(imageDigests: await localImageDigests(), defaultImage: defaultImage, tags: tags.sorted())
            let (claimed, reason) = try await client.claimOrReason(request)
            if reason != state.withLock({ $0.refusal }) {
                state.withLock { $0.refusal = reason }
                if let reason { logger.warning("the hub gives this runner no job for now: \(reason)") }
            }
            guard let claimed else {
                noWork()
                return nil
            }
            claim = claimed
        } catch {
            logger.warning("cannot claim a job from the hub: \(error)")
            noWork()
            return nil
        }
        let directory = "\(runningDirectory)/\(claim.id)"
        guard let job = Self.claimedJob(claim, directory: directory, slot: slot) else {
            logger.error("the hub leased a job with an invalid name; giving it back", metadata: ["job": "\(claim.job)"])
            try? await client.release(claim.id)
            return nil
        }
        state.withLock {
            $0.held[claim.id] = claim.leaseSeconds
            $0.consoleSent[claim.id] = 0
        }
        heldChanged.continuation.yield()
        heldChangedForConsoles.continuation.yield()
        do {
            try await OwnThread.run("construir-hub-claim") { [identity] in
                try PrivateDirectory.make(directory)
                try FileSystem.writeDurably(try HubJSON.encode(claim), to: "\(directory)/\(Self.claimFile)", mode: 0o600)
                if let identity {
                    let record = ClaimRecord(id: claim.id, job: claim.job, runner: identity.id, host: identity.host, pid: getpid(),
                                             slot: slot, claimed: Date(), queued: claim.queued, attempt: claim.attempt)
                    try FileSystem.writeDurably(try record.encoded(), to: "\(directory)/claim.json", mode: 0o600)
                }
            }
            try await downloadWithRetries(claim, to: job.jobPath)
        } catch {
            logger.error("cannot download the job; giving it back to the hub: \(error)", metadata: ["job": "\(claim.job)"])
            await forget(claim.id, directory: directory)
            try? await client.release(claim.id)
            return nil
        }
        logger.info("claimed job from the hub", metadata: ["job": "\(claim.job)", "lease": "\(claim.id)", "slot": "\(slot)",
                                                         "attempt": "\(claim.attempt)"])
        return job
    }

    package func hasWaitingJobs() async -> Bool {
        (try? await client.waitForWork(seconds: 0)) ?? false
    }

    package func release(_ job: ClaimedJob) async throws {
        // The runner gives a job back when it is stopping, often from a cancelled task, which
        // would cancel the request too: the release runs in a task of its own, awaited here.
        let client = self.client
        do {
            try await Task { try await client.release(job.id) }.value
        } catch {
            logger.warning("cannot give the job back to the hub; its lease runs out there instead: \(error)", metadata: ["job": "\(job.name.fileName)"])
        }
        await forget(job.id, directory: job.directory)
    }

    package func deliver(_ job: ClaimedJob, result: JobResult?) async throws -> (location: String, result: JobResult?) {
        let directory = job.directory
        let (resultData, consoleExists, outputExists) = try await OwnThread.run("construir-hub-deliver") {
            (try Data(contentsOf: URL(fileURLWithPath: job.resultPath)),
             FileSystem.exists("\(directory)/\(JobFiles.consoleLog)"), FileSystem.exists("\(directory)/\(JobFiles.outputArchive)"))
        }
        let result = result ?? (try? JobResult.decode(resultData))
        let location: String
        do {
            if consoleExists { try await client.uploadConsole(job.id, file: "\(directory)/\(JobFiles.consoleLog)") }
            if outputExists { try await client.uploadOutput(job.id, file: "\(directory)/\(JobFiles.outputArchive)") }
            let receipt = try await client.sendResult(job.id, result: resultData)
            location = "\(client.baseURL) done/\(receipt.location)"
        } catch let error as HubClientError where error.kind == .leaseLost || error.kind == .refused {
            // The hub has decided: the job is someone else's now, or ended in error there.
            logger.error("the hub refused this job's result: \(error)", metadata: ["job": "\(job.name.fileName)"])
            location = "\(client.baseURL) (refused: \(error.message))"
        }
        await forget(job.id, directory: directory)
        return (location, result)
    }

    /// The digests of this runner's images that verify against their image.json, by index.
    package func localImageDigests() async -> [Int: String] {
        guard let images else { return [:] }
        let digests = self.digests
        return (try? await OwnThread.run("construir-image-digests") { () -> [Int: String] in
            var found: [Int: String] = [:]
            for index in images.availableIndexes() {
                if let image = try? images.image(index), let digest = try? digests.digest(of: image) { found[index] = digest }
            }
            return found
        }) ?? [:]
    }

    /// Fetches every image the hub serves whose digest differs from ours, or that we lack. A
    /// job for such an image would not be handed to us; a failed pull leaves ours as it was.
    private func pullChangedImages() async {
        guard let images else { return }
        state.withLock { $0.imagesChecked = .now }
        let listing: [HubImage]
        do {
            listing = try await client.images()
        } catch {
            logger.warning("cannot list the hub's build images: \(error)")
            return
        }
        let local = await localImageDigests()
        for image in listing where local[image.index] != image.digest {
            let started = ContinuousClock.now
            do {
                try await client.pullImage(image.index, into: images.root, listing: listing)
                logger.notice("pulled build image from the hub", metadata: [
                    "image": "\(image.index)", "digest": "\(image.digest)", "replaced": "\(local[image.index] ?? "none")",
                    "seconds": "\(String(format: "%.1f", (ContinuousClock.now - started).seconds))"])
            } catch {
                logger.error("cannot pull build image \(image.index) from the hub: \(error)")
            }
        }
    }

    private func noWork() {
        state.withLock { $0.workMayExist = false }
        wantWork.continuation.yield()
    }

    private func forget(_ id: String, directory: String) async {
        state.withLock {
            _ = $0.held.removeValue(forKey: id)
            _ = $0.consoleSent.removeValue(forKey: id)
        }
        try? await removeDirectory(directory)
    }

    private func removeDirectory(_ directory: String) async throws {
        try await OwnThread.run("construir-hub-cleanup") { try FileManager.default.removeItem(atPath: directory) }
    }

    /// Up to five tries, each resuming where the last stopped.
    private func downloadWithRetries(_ claim: HubClaim, to path: String) async throws {
        var delay = Duration.milliseconds(500)
        for attempt in 1...5 {
            do {
                try await client.download(claim, to: path)
                return
            } catch let error as HubClientError where error.kind == .unreachable && attempt < 5 {
                logger.warning("download interrupted; resuming in \(delay): \(error)", metadata: ["job": "\(claim.job)"])
                try await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }

    static func claimedJob(_ claim: HubClaim, directory: String, slot: Int) -> ClaimedJob? {
        guard let name = JobName(fileName: claim.job), SafeName.isSafe(claim.id), !claim.id.hasPrefix("."), !claim.id.isEmpty else {
            return nil
        }
        var job = ClaimedJob(name: name, directory: directory, queuedAt: claim.queued, attempt: claim.attempt, slot: slot)
        job.requiredImageDigest = claim.imageDigest
        return job
    }
}
