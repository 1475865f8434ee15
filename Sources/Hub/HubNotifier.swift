import AsyncHTTPClient
import ConstruirSystem
import Foundation
import HubAPI
import HubOpenAPI
import HubStore
import JobModel
import Logging
import NIOCore
import NIOFoundationCompat
import ServiceLifecycle

/// Sends the outbox's events to the webhook, at least once each: an answer other than 2xx, or
/// none within 10 s, is tried again with a doubling wait (1 s up to 10 min) for a day, then
/// given up and logged. Publishing never waits for it: the outbox is written with each job's
/// end, and this service reads it on its own.
package struct HubNotifier: Service {
    let webhook: HubWebhook
    let coordinator: HubCoordinator
    let logger: Logger
    static let giveUpAfter: TimeInterval = 24 * 3600

    package init(webhook: HubWebhook, coordinator: HubCoordinator, logger: Logger) {
        self.webhook = webhook
        self.coordinator = coordinator
        self.logger = logger
    }

    package func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(10))
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let due: [HubEvent]
                do {
                    due = try await coordinator.store.dueEvents(now: Date(), limit: 16)
                } catch {
                    logger.error("cannot read the webhook outbox: \(error)")
                    due = []
                }
                var handled = false
                for event in due where !Task.isCancelled { handled = await deliver(event, http) || handled }
                if !handled { try? await Task.sleep(for: .seconds(1)) }
            }
        }
        try? await http.shutdown()
    }

    /// Sends `event`, or postpones or drops it; false when it waits for its job to reach done/
    /// (a receiver that fetches the result at once then finds it).
    private func deliver(_ event: HubEvent, _ http: HTTPClient) async -> Bool {
        let store = coordinator.store
        do {
            guard let job = try await store.job(event.jobID), job.state == .done else {
                try await store.removeEvent(event.sequence)
                return true
            }
            if job.location == nil { return false }
            let body = try HubJSON.encode(try await Self.event(for: job, webhook: webhook, done: coordinator.intake.publisher.done.directory))
            var request = HTTPClientRequest(url: webhook.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "construir-hub")
            request.headers.add(name: "X-Construir-Event", value: "job.finished")
            request.headers.add(name: "X-Construir-Delivery", value: "\(event.sequence)")
            request.headers.add(name: "X-Construir-Signature", value: webhook.signature(of: body))
            request.body = .bytes(ByteBuffer(data: body))
            let response = try await http.execute(request, timeout: .seconds(10))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                throw ConstruirError(.system, "the webhook answered \(response.status.code)")
            }
            try await store.removeEvent(event.sequence)
            logger.info("announced a finished job", metadata: ["job": "\(job.job)", "delivery": "\(event.sequence)"])
        } catch {
            await postpone(event, error: "\(error)")
        }
        return true
    }

    private func postpone(_ event: HubEvent, error: String) async {
        let now = Date()
        do {
            if now.timeIntervalSince(event.created) > Self.giveUpAfter {
                try await coordinator.store.removeEvent(event.sequence)
                logger.error("gave up announcing a finished job after a day of tries", metadata: ["job": "\(event.jobID)", "error": "\(error)"])
                return
            }
            let wait = min(pow(2, Double(event.attempts)), 600)
            try await coordinator.store.postponeEvent(event.sequence, until: now.addingTimeInterval(wait), error: error)
            logger.warning("cannot announce a finished job yet; trying again in \(Int(wait)) s", metadata: [
                "job": "\(event.jobID)", "error": "\(error)"])
        } catch {
            logger.error("cannot record a webhook try: \(error)", metadata: ["job": "\(event.jobID)"])
        }
    }

    /// The event for `job`: what the store has, and the exit code from its result.json.
    static func event(for job: HubJob, webhook: HubWebhook, done: String) async throws -> Components.Schemas.HubJobEvent {
        var exitCode: Int?
        if let location = job.location, !location.isEmpty, SafeName.isSafe(location) {
            exitCode = try await FileWork.run { JobPublisher.readResult("\(done)/\(location)/\(JobFiles.result)")?.exitCode }
        }
        return .init(event: .job_finished, id: job.id, job: job.job, name: JobName(fileName: job.job)?.name ?? job.job,
                     status: .init(job.status ?? .error), exitCode: exitCode, submitter: job.submitter, finished: job.finished ?? Date(),
                     url: webhook.publicURL.map { "\($0)/api/v1/jobs/\(job.id)" })
    }
}
