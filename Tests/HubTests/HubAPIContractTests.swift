import ConstruirSystem
import Foundation
import HTTPTypes
import HubAPI
import HubOpenAPI
import HubStore
import Hummingbird
import HummingbirdTesting
import JobModel
import Logging
import NIOCore
import Testing
import TestSupport
import Yams
@testable import Hub

/// The hub against its description, openapi.yaml: who may call each operation, the result.json
/// schema against the runner's type, and the status of every answer a real hub gives to calls
/// that are wrong in each way a client can be wrong.
@Suite struct HubAPIContractTests {
    /// The description, as a tree: path → method → operation.
    static func loadDescription() -> [String: Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/HubOpenAPI/openapi.yaml").path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return ((try? Yams.load(yaml: text)) as? [String: Any]) ?? [:]
    }

    struct Operation: Sendable {
        var id: String
        var method: String
        var path: String
        var tags: [String]
        var openToAll: Bool
        var statuses: Set<Int>
    }

    static let operations: [Operation] = {
        let paths = loadDescription()["paths"] as? [String: Any] ?? [:]
        return paths.flatMap { path, item -> [Operation] in
            (item as? [String: Any] ?? [:]).compactMap { method, value -> Operation? in
                guard let operation = value as? [String: Any], let id = operation["operationId"] as? String else { return nil }
                let responses = operation["responses"] as? [AnyHashable: Any] ?? [:]
                return Operation(id: id, method: method.uppercased(), path: path, tags: operation["tags"] as? [String] ?? [],
                                 openToAll: (operation["security"] as? [Any])?.isEmpty ?? false,
                                 statuses: Set(responses.keys.compactMap { Int("\($0)") }))
            }
        }
    }()

    /// The operation a request's method and path name, as a router would match them.
    static func operation(_ method: String, _ path: String) -> Operation? {
        let segments = path.split(separator: "?")[0].split(separator: "/")
        return operations.first { operation in
            let template = operation.path.split(separator: "/")
            return operation.method == method && template.count == segments.count && zip(template, segments).allSatisfy {
                $0.hasPrefix("{") || $0 == $1
            }
        }
    }

    @Test func everyOperationIsAllowedToWhomItsDescriptionSays() throws {
        #expect(Self.operations.count >= 14, "the description was not read")
        for operation in Self.operations {
            let described: HubAccess
            if operation.openToAll {
                described = .open
            } else if operation.tags.contains("runner") {
                described = .role(.runner)
            } else if operation.tags.contains("submitter") {
                described = .role(.submitter)
            } else if operation.tags.contains("jobs") {
                described = .jobReader
            } else {
                described = .anyToken
            }
            #expect(HubAccess.of(operation: operation.id) == described, "\(operation.id)")
        }
        #expect(HubAccess.of(operation: "somethingNew") == nil, "an operation nobody listed is served to nobody")
    }

    /// A result.json with every field set survives the API's schema: a field the schema lacks
    /// would be dropped between the runner and the hub.
    @Test func aResultKeepsEveryFieldThroughTheSchema() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000.125)
        var result = JobResult(
            job: "j_i1.tar.xz", name: "j", status: .passedWithFailures, exitCode: 0, error: "a note", image: .init(index: 1, sha256: "ab"),
            timestamps: .init(queued: now, started: now.addingTimeInterval(1.5), finished: now.addingTimeInterval(9.25)),
            durations: .init(wait: 1, inspect: 0.1, vmStart: 0.4, boot: 2, run: 3, vm: 5, collect: 0.3, total: 9),
            sizes: .init(job: 10, outputDisk: 20, outputArchive: 30, outputFiles: 40, outputEntries: 5, consoleLog: 60),
            limits: .init(timeout: 600, memoryMiB: 1024, cpus: 2, acceleration: "tcg", outputSize: 4096, consoleLog: 8192),
            runner: "construir 1", attempt: 2, runnerID: "runner-a")
        result.durations.destroy = 0.2
        result.durations.paused = 0.5
        result.outputDigest = String(repeating: "c", count: 64)
        result.quorum = JobResult.Quorum(state: .agreed, replicas: [JobResult.Quorum.Replica(runnerID: "runner-a", status: .passed, exitCode: 0,
                                                                                             outputDigest: "d", attempt: 1)])
        result.stages = [StageResult(name: "build", status: .passed, allowFailure: false, exitCode: 0, start: 1, duration: 2,
                                     console: .init(offset: 3, length: 4)),
                         StageResult(name: "lint", status: .failed, allowFailure: true, exitCode: 1)]
        result.source = PackagedSource(commit: String(repeating: "e", count: 40), uncommittedChanges: true)
        result.warm = .init(domain: "construir-warm-1", age: 3, handover: 0.01)
        result.submitter = "alice"
        let described = try HubJSON.recode(result, as: Components.Schemas.JobResult.self)
        #expect(try HubJSON.recode(described, as: JobResult.self) == result)
    }

    // MARK: A real hub's answers

    /// A hub on loopback with one runner token and one submitter token, and `jobs` in its queue.
    private func withHub(jobs: [String] = [], _ body: @Sendable (_ client: any TestClientProtocol, _ runner: String, _ submitter: String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            for directory in ["\(dir)/queue", "\(dir)/done"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            }
            for job in jobs { try Data("not really xz".utf8).write(to: URL(fileURLWithPath: "\(dir)/queue/\(job)")) }
            let tokens = HubTokenStore(path: "\(dir)/tokens.json")
            let runner = try tokens.add(name: "runner-a", role: .runner)
            let submitter = try tokens.add(name: "alice", role: .submitter)
            let blobs = try HubBlobs(directory: "\(dir)/queue/.construir-hub")
            let store = try SQLiteHubStore(path: "\(blobs.directory)/hub.sqlite")
            let intake = HubResultIntake(store: store, blobs: blobs, done: try DoneStore(directory: "\(dir)/done"))
            let coordinator = HubCoordinator(store: store, blobs: blobs, intake: intake, rules: HubRules(leaseDuration: .seconds(60)),
                                             terms: HubJobTerms(replicas: 1), queueDirectory: "\(dir)/queue",
                                             logger: Logger(label: "test"))
            let server = HubServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: 0)), coordinator: coordinator,
                                   authenticator: try HubAuthenticator(store: tokens))
            let app = Application(router: try server.makeRouter(logger: Logger(label: "test")))
            try await app.test(.live) { client in try await body(client, "Bearer \(runner)", "Bearer \(submitter)") }
        }
    }

    /// Sends one call and checks that its answer is one the description gives that operation,
    /// with an error body the description's `HubErrorBody`. Returns the answer.
    @discardableResult
    private func call(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String? = nil,
                      headers: HTTPFields = [:], body: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        var headers = headers
        if let token { headers[.authorization] = token }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { $0 }
        let status = Int(response.status.code)
        if let operation = Self.operation(method.rawValue, uri) {
            #expect(operation.statuses.contains(status), "\(operation.id) answered \(status), which its description does not give",
                    sourceLocation: sourceLocation)
        } else {
            #expect(status == 405 || status == 404, "\(method) \(uri) is no operation yet answered \(status)", sourceLocation: sourceLocation)
        }
        if status >= 400, status != 416 {
            let error = try? HubJSON.decode(HubErrorBody.self, from: Data(buffer: response.body))
            #expect(error.map { !$0.error.isEmpty } == true, "\(status) without {\"error\": ...}: \(String(buffer: response.body))",
                    sourceLocation: sourceLocation)
        }
        return response
    }

    @Test func wrongCallsGetDescribedAnswers() async throws {
        try await withHub { client, runner, submitter in
            let json: HTTPFields = [.contentType: "application/json"]
            #expect(try await call(client, .post, "/api/v1/claim").status == .unauthorized)
            #expect(try await call(client, .post, "/api/v1/claim").headers[.wwwAuthenticate] == "Bearer realm=\"construir hub\"")
            #expect(try await call(client, .post, "/api/v1/claim", token: "Bearer construir_nope").status == .unauthorized)
            #expect(try await call(client, .post, "/api/v1/claim", token: submitter).status == .forbidden)
            #expect(try await call(client, .post, "/api/v1/claim", token: runner, headers: json, body: #"{"default_image": -1}"#).status == .badRequest)
            #expect(try await call(client, .post, "/api/v1/claim", token: runner, headers: json,
                                   body: #"{"default_image": 2147483648}"#).status == .badRequest)
            #expect(try await call(client, .post, "/api/v1/claim", token: runner, headers: json,
                                   body: String(repeating: " ", count: 65 * 1024) + "{}").status == .contentTooLarge)
            #expect(try await call(client, .post, "/api/v1/claim", token: runner, headers: json, body: "not json").status == .badRequest)
            #expect(try await call(client, .post, "/api/v1/claim", token: runner, headers: [.contentType: "text/plain"], body: "{}").status
                    == .unsupportedMediaType)
            let unnamed = try await call(client, .post, "/api/v1/claim", token: runner)
            #expect(unnamed.status == .noContent, "no body is {}: \(unnamed.status) \(String(buffer: unnamed.body))")
            #expect(try await call(client, .get, "/api/v1/work?wait=soon", token: runner).status == .badRequest)
            #expect(try await call(client, .get, "/api/v1/work?wait=0", token: runner).status == .noContent)
            #expect(try await call(client, .post, "/api/v1/jobs/.hidden/heartbeat", token: runner).status == .notFound)
            #expect(try await call(client, .post, "/api/v1/jobs/nosuch/heartbeat", token: runner).status == .conflict)
            #expect(try await call(client, .post, "/api/v1/jobs/nosuch/result", token: runner, headers: json, body: "{}").status
                    == .badRequest)
            #expect(try await call(client, .get, "/api/v1/images", token: runner).status == .notFound)
            #expect(try await call(client, .get, "/api/v1/images/00/image.json", token: runner).status == .notFound)
            #expect(try await call(client, .post, "/api/v1/jobs?name=../x.tar.xz", token: submitter,
                                   headers: [.contentType: "application/x-xz"], body: "x").status == .badRequest)
            #expect(try await call(client, .post, "/api/v1/jobs?name=a_i0.tar.xz", token: submitter,
                                   headers: [.contentType: "application/x-xz"], body: "not a job").status == .unprocessableContent)
            let notAllowed = try await call(client, .delete, "/api/v1/claim", token: runner)
            #expect(notAllowed.status == .methodNotAllowed && notAllowed.headers[.allow] == "POST")
            #expect(try await call(client, .get, "/api/v1/status", token: submitter).status == .ok)
            let page = try await call(client, .get, "/")
            #expect(page.status == .ok && page.headers[.contentSecurityPolicy] != nil && page.headers[.cacheControl] == "no-store")
        }
    }

    @Test func aJobDownloadsWholeOrInPart() async throws {
        try await withHub(jobs: ["j_i0.tar.xz"]) { client, runner, _ in
            let claimed = try await call(client, .post, "/api/v1/claim", token: runner)
            let claim = try HubJSON.decode(HubClaim.self, from: Data(buffer: claimed.body))
            let uri = "/api/v1/jobs/\(claim.id)/job"
            let whole = try await call(client, .get, uri, token: runner)
            #expect(whole.status == .ok && String(buffer: whole.body) == "not really xz" && whole.headers[.acceptRanges] == "bytes")
            let part = try await call(client, .get, uri, token: runner, headers: [.range: "bytes=4-9"])
            #expect(part.status == .partialContent && String(buffer: part.body) == "really")
            #expect(part.headers[.contentRange] == "bytes 4-9/13")
            let tail = try await call(client, .get, uri, token: runner, headers: [.range: "bytes=11-"])
            #expect(String(buffer: tail.body) == "xz")
            let past = try await call(client, .get, uri, token: runner, headers: [.range: "bytes=13-"])
            #expect(past.status == .rangeNotSatisfiable && past.headers[.contentRange] == "bytes */13")
            #expect(try await call(client, .get, uri, token: runner, headers: [.range: "bytes=-3"]).status == .ok, "a suffix range is ignored")
            let console = try await call(client, .put, "/api/v1/jobs/\(claim.id)/console", token: runner,
                                         headers: [.contentType: "application/octet-stream"], body: "console")
            #expect(console.status == .noContent)
        }
    }
}
