import Archive
import ConstruirSystem
import Foundation
import HubAPI
import HubOpenAPI
import HubStore
import JobModel
import Logging
import NIOPosix
import OpenAPIRuntime
import ServiceLifecycle

/// The hub's API: each operation of openapi.yaml, as the generated server calls it once
/// `HubAuthentication` let the call through (the caller is `HubCaller.current()`). An error
/// thrown here becomes the documented error answer (`HubErrorResponses`).
struct HubOperations: APIProtocol {
    let configuration: HubServer.Configuration
    let coordinator: HubCoordinator
    let images: HubImages
    let logger: Logger

    var waiters: HubWaiters { coordinator.waiters }
    private var runners: HubRunners { coordinator.runners }
    var blobs: HubBlobs { coordinator.blobs }

    // MARK: Status

    func page(_ input: Operations.Page.Input) async throws -> Operations.Page.Output {
        .ok(.init(body: .html(HTTPBody(HubPage.html(try await coordinator.status())))))
    }

    func metrics(_ input: Operations.Metrics.Input) async throws -> Operations.Metrics.Output {
        .ok(.init(body: .plainText(HTTPBody(HubPage.metrics(try await coordinator.status(), waiting: waiters.count)))))
    }

    func status(_ input: Operations.Status.Input) async throws -> Operations.Status.Output {
        .ok(.init(body: .json(try await coordinator.status())))
    }

    // MARK: Runner: claiming

    func waitForWork(_ input: Operations.WaitForWork.Input) async throws -> Operations.WaitForWork.Output {
        let runner = try HubCaller.current()
        let limit = min(max(input.query.wait ?? 30, 0), configuration.longPollLimit.seconds)
        let deadline = ContinuousClock.now + .milliseconds(Int64(limit * 1000))
        let images = self.images
        let claim = runners.lastClaim(of: runner.name)
        let tags = runner.runnerTags(claimed: claim?.tags ?? [])
        let serving = images.isServing
        let accepting: @Sendable (HubOffer) -> Bool = { job in
            Set(job.tags).isSubset(of: tags) && (!serving || claim.map { images.accepts(job.name, from: $0) } ?? true)
        }
        let (coordinator, waiters) = (self.coordinator, self.waiters)
        // A stopping server waits for its open requests before the maintenance service hears
        // of the shutdown: the poll must end on the server's own signal, or a hub takes the
        // rest of every open poll to stop.
        return try await withGracefulShutdownHandler {
            while true {
                let seen = waiters.generation
                if try await coordinator.hasWork(for: runner.name, accepting: accepting) { return .ok(.init()) }
                if ContinuousClock.now >= deadline || Task.isCancelled || waiters.isClosed { return .noContent(.init()) }
                await waiters.wait(after: seen, timeout: deadline - ContinuousClock.now)
            }
        } onGracefulShutdown: {
            waiters.close()
        }
    }

    func claim(_ input: Operations.Claim.Input) async throws -> Operations.Claim.Output {
        let runner = try HubCaller.current()
        // No body is `{}`: a runner that names no images gets no job for an image the hub serves.
        let asked: HubClaimRequest
        switch input.body {
        case .json(let request): asked = request
        case nil: asked = HubClaimRequest()
        }
        guard (0...Int(Int32.max)).contains(asked.defaultImageIndex) else {
            return .badRequest(.init(body: .json(.init(error: "default_image: an image index is 0 to \(Int32.max)"))))
        }
        let tags = runner.runnerTags(claimed: asked.tags ?? [])
        runners.claimed(asked, by: runner.name, tags: tags)
        let images = self.images
        let (held, refusal) = try await coordinator.claimOrRefusal(for: runner.name, accepting: {
            Set($0.tags).isSubset(of: tags) && images.accepts($0.name, from: asked)
        })
        guard let lease = held else {
            if let refusal { logger.info("runner refused a job for now", metadata: ["runner": "\(runner.name)", "reason": "\(refusal)"]) }
            return .noContent(.init(headers: .init(construirReason: refusal)))
        }
        logger.info("leased job", metadata: ["job": "\(lease.fileName)", "lease": "\(lease.id)", "runner": "\(runner.name)",
                                             "attempt": "\(lease.attempt)", "replica": "\(lease.job.holds.count + lease.job.results.count) of \(lease.job.replicas)"])
        let imageDigest = JobName(fileName: lease.fileName).flatMap { images.digest(ofImage: $0.image(default: asked.defaultImageIndex)) }
        return .ok(.init(body: .json(HubClaim(id: lease.id, job: lease.fileName, attempt: lease.attempt, sha256: lease.sha256,
                                              size: lease.size, queued: lease.queued,
                                              leaseSeconds: coordinator.rules.leaseDuration.seconds, imageDigest: imageDigest))))
    }

    func downloadJob(_ input: Operations.DownloadJob.Input) async throws -> Operations.DownloadJob.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        let path = blobs.jobPath(try await coordinator.held(id, by: runner.name).id)
        switch try await HubFileResponse.make(path: path, range: input.headers.range) {
        case .whole(let body): return .ok(.init(headers: .init(acceptRanges: .bytes), body: .applicationXXz(body)))
        case .part(let body, let range): return .partialContent(.init(headers: .init(acceptRanges: .bytes, contentRange: range), body: .binary(body)))
        case .unsatisfiable(let range): return .rangeNotSatisfiable(.init(headers: .init(contentRange: range)))
        }
    }

    // MARK: Runner: build images

    func listImages(_ input: Operations.ListImages.Input) async throws -> Operations.ListImages.Output {
        guard images.isServing else { throw Self.noImages }
        return .ok(.init(body: .json(images.list)))
    }

    func downloadImageManifest(_ input: Operations.DownloadImageManifest.Input) async throws -> Operations.DownloadImageManifest.Output {
        guard let path = ImageStore.index(named: input.path.index).flatMap({ images.manifestPath($0) }) else { throw Self.noImages }
        switch try await HubFileResponse.make(path: path, range: input.headers.range) {
        case .whole(let body): return .ok(.init(headers: .init(acceptRanges: .bytes), body: .binary(body)))
        case .part(let body, let range): return .partialContent(.init(headers: .init(acceptRanges: .bytes, contentRange: range), body: .binary(body)))
        case .unsatisfiable(let range): return .rangeNotSatisfiable(.init(headers: .init(contentRange: range)))
        }
    }

    func downloadImageFile(_ input: Operations.DownloadImageFile.Input) async throws -> Operations.DownloadImageFile.Output {
        guard let index = ImageStore.index(named: input.path.index), let path = images.filePath(index, input.path.name) else {
            throw Self.noImages
        }
        switch try await HubFileResponse.make(path: path, range: input.headers.range) {
        case .whole(let body): return .ok(.init(headers: .init(acceptRanges: .bytes), body: .binary(body)))
        case .part(let body, let range): return .partialContent(.init(headers: .init(acceptRanges: .bytes, contentRange: range), body: .binary(body)))
        case .unsatisfiable(let range): return .rangeNotSatisfiable(.init(headers: .init(contentRange: range)))
        }
    }

    static let noImages = HubHTTPError(.notFound, "no such build image or file on this hub")

    // MARK: Runner: a held job

    func heartbeat(_ input: Operations.Heartbeat.Input) async throws -> Operations.Heartbeat.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        let held = try await coordinator.heartbeat(id, by: runner.name)
        return .ok(.init(body: .json(HubHeartbeatReply(expires: held.expires, leaseSeconds: coordinator.rules.leaseDuration.seconds,
                                                       stop: held.job.stopRequested != nil ? true : nil))))
    }

    func release(_ input: Operations.Release.Input) async throws -> Operations.Release.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        try await coordinator.release(id, by: runner.name)
        logger.info("runner gave a job back", metadata: ["lease": "\(id)", "runner": "\(runner.name)"])
        return .noContent(.init())
    }

    func uploadConsole(_ input: Operations.UploadConsole.Input) async throws -> Operations.UploadConsole.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        let lease = try await coordinator.held(id, by: runner.name)
        guard case .binary(let body) = input.body else { throw HubHTTPError(.unsupportedMediaType, "send the console log as application/octet-stream") }
        try await receiveUpload(body, lease: lease, runner: runner, file: HubResultIntake.consoleUpload(serial: lease.serial),
                                limit: configuration.maxConsoleBytes, what: "the console log")
        return .noContent(.init())
    }

    func appendConsole(_ input: Operations.AppendConsole.Input) async throws -> Operations.AppendConsole.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        let lease = try await coordinator.held(id, by: runner.name)
        guard case .binary(let body) = input.body else { throw HubHTTPError(.unsupportedMediaType, "send the console as application/octet-stream") }
        let path = "\(blobs.path(id))/\(HubResultIntake.consoleLive(serial: lease.serial))"
        let stop = lease.job.stopRequested != nil ? true : nil
        let size = try await HubConsoleAppend.append(body, to: path, at: input.query.offset, cap: configuration.maxConsoleBytes)
        logger.debug("console appended", metadata: ["lease": "\(id)", "runner": "\(runner.name)", "size": "\(size)"])
        return .ok(.init(body: .json(.init(size: size, stop: stop))))
    }

    func uploadOutput(_ input: Operations.UploadOutput.Input) async throws -> Operations.UploadOutput.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        let lease = try await coordinator.held(id, by: runner.name)
        let cap: Int64
        do {
            let intake = coordinator.intake
            cap = try await FileWork.run { try intake.outputCap(ofJob: id) }
        } catch {
            return .unprocessableContent(.init(body: .json(.init(error: "the hub cannot read this job's image to size its output: \(error)"))))
        }
        guard case .applicationXXz(let body) = input.body else { throw HubHTTPError(.unsupportedMediaType, "send the output as application/x-xz") }
        try await receiveUpload(body, lease: lease, runner: runner, file: HubResultIntake.outputUpload(serial: lease.serial),
                                limit: cap, what: "the output archive")
        return .noContent(.init())
    }

    func sendResult(_ input: Operations.SendResult.Input) async throws -> Operations.SendResult.Output {
        let (runner, id) = try leaseCaller(input.path.id)
        guard case .json(let document) = input.body else { throw HubHTTPError(.unsupportedMediaType, "send the result as application/json") }
        let reported: JobResult
        do {
            reported = try HubJSON.recode(document, as: JobResult.self)
        } catch {
            return .badRequest(.init(body: .json(.init(error: "the body is not a result.json: \(HubServer.reason(error))"))))
        }
        let outcome = try await coordinator.finish(id, by: runner.name, reported: reported)
        logger.info("result taken in", metadata: ["job": "\(outcome.receipt.job)", "runner": "\(runner.name)",
                                                  "status": "\(outcome.receipt.status?.rawValue ?? "?")", "done": "\(outcome.receipt.location)"])
        if let refusal = outcome.refusal { return .unprocessableContent(.init(body: .json(.init(error: refusal)))) }
        return .ok(.init(body: .json(outcome.receipt)))
    }

    // MARK: Submitter

    /// Reads and drops up to 64 MiB of an upload the hub refuses before taking it. A client
    /// sends its whole body before it reads the answer; answered early, it could see the
    /// connection close before the answer's body arrives, and lose the reason. A larger upload
    /// still gets the status, without the reading.
    private static func discardUpload(_ body: Operations.Submit.Input.Body) async {
        guard case .applicationXXz(let upload) = body else { return }
        var read = 0
        do {
            for try await chunk in upload {
                read += chunk.count
                if read > 64 << 20 { return }
            }
        } catch {}
    }

    func submit(_ input: Operations.Submit.Input) async throws -> Operations.Submit.Output {
        let submitter = try HubCaller.current()
        guard let name = JobName(fileName: input.query.name) else {
            return .badRequest(.init(body: .json(.init(error: "?name= must be a job file name, NAME_iN.tar.xz"))))
        }
        if let problem = name.problem { return .badRequest(.init(body: .json(.init(error: problem)))) }
        let waiting = try await coordinator.store.queuedCount(of: submitter.name)
        if waiting >= configuration.maxQueuedPerSubmitter {
            await Self.discardUpload(input.body)
            return .tooManyRequests(.init(body: .json(.init(
                error: "you have \(waiting) jobs waiting for a runner, the most this hub takes (--max-queued-per-submitter); send more as they start"))))
        }
        if try await coordinator.isQueued(name: name.fileName) {
            await Self.discardUpload(input.body)
            return .conflict(.init(body: .json(.init(error: "a job named \(name.fileName) is already queued"))))
        }
        guard case .applicationXXz(let body) = input.body else { throw HubHTTPError(.unsupportedMediaType, "send the job as application/x-xz") }
        let blobs = self.blobs
        let place = try await FileWork.run { try blobs.uploadPlace(for: name) }
        let accepted: HubJob
        do {
            try await Self.receive(body, into: place.file, limit: configuration.maxJobBytes, what: "the job")
            let terms = coordinator.terms
            try await FileWork.run {
                let manifest: JobManifest?
                do {
                    manifest = try JobImageInspector.inspect(place.file).manifest.map { bytes throws(ConstruirError) in try JobManifest.parse(bytes) }
                } catch {
                    throw HubHTTPError(.unprocessableContent, "not a valid job image: \(error)")
                }
                if let refusal = terms.refusal(of: manifest) { throw HubHTTPError(.unprocessableContent, refusal) }
            }
            accepted = try await coordinator.accept(upload: place.id, name: name, submitter: submitter.name)
        } catch {
            try? await FileWork.run { blobs.remove(place.id) }
            throw error
        }
        logger.info("job submitted", metadata: ["job": "\(name.fileName)", "submitter": "\(submitter.name)"])
        return .created(.init(body: .json(HubReceipt(job: name.fileName, id: accepted.id, location: name.fileName))))
    }

    // MARK: Plumbing

    /// The caller (a runner: `HubAccess` checked it) and the `{id}` it names, or 404 for an id
    /// the hub could never have made.
    private func leaseCaller(_ id: String) throws -> (HubToken, String) {
        let runner = try HubCaller.current()
        guard SafeName.isSafe(id), !id.hasPrefix(".") else { throw HubHTTPError(.notFound, "no such job") }
        return (runner, id)
    }

    /// Receives one of a hold's uploads. A runner that sends more than allowed is not trusted
    /// with the job any further: its hold fails (the job goes to another runner, or ends in
    /// error after `--max-attempts` failures), and the runner gets 413.
    private func receiveUpload(_ body: HTTPBody, lease: HubHold, runner: HubToken, file: String, limit: Int64, what: String) async throws {
        do {
            try await Self.receive(body, into: "\(blobs.path(lease.id))/\(file)", limit: limit, what: what)
        } catch let error as HubHTTPError where error.status == .contentTooLarge {
            let message = "the runner \(runner.name) sent more than the job allows: \(error.message)"
            do {
                try await coordinator.refuseUpload(lease.id, by: runner.name, reason: message)
                logger.warning("refused an upload; the runner's hold on the job failed", metadata: [
                    "lease": "\(lease.id)", "runner": "\(runner.name)"])
            } catch {
                logger.error("refused an upload, and cannot end its job: \(error)", metadata: ["lease": "\(lease.id)"])
            }
            throw error
        }
    }

    /// Streams a request body into `path` (replacing it), refusing more than `limit` bytes both
    /// by its Content-Length and as it arrives, before it fills a disk. Nothing is left at
    /// `path` on failure.
    static func receive(_ body: HTTPBody, into path: String, limit: Int64, what: String) async throws {
        if case .known(let length) = body.length, length > limit {
            throw HubHTTPError(.contentTooLarge, "\(what) is \(length) bytes, more than the \(limit) bytes allowed")
        }
        do {
            let file = try await PooledFile(path: path, writing: true)
            try await file.truncate(to: 0)
            var offset: Int64 = 0
            for try await chunk in body {
                guard offset + Int64(chunk.count) <= limit else {
                    throw HubHTTPError(.contentTooLarge, "\(what) is larger than the \(limit) bytes allowed")
                }
                try await file.write(chunk, at: offset)
                offset += Int64(chunk.count)
            }
        } catch {
            try? await FileWork.run { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
    }
}
