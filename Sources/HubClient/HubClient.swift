import AsyncHTTPClient
import ConstruirSystem
import Foundation
import HubAPI
import HubOpenAPI
import JobModel
import Logging
import NIOCore
import NIOSSL
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// The hub's API as a runner or a submitter calls it (docs/hub.md), through the client
/// generated from openapi.yaml. One HTTP client with its connection pool; call `shutdown()`
/// when done.
///
/// HTTPS is verified against the system's trust store, or only against `--ca FILE`. Plain HTTP
/// is refused unless the hub is on this machine (loopback) or `allowInsecureHTTP` says so: a
/// token sent in clear text is a token given away.
package final class HubClient: Sendable {
    package let baseURL: String
    private let serverURL: URL
    private let token: HubBearerToken
    private let http: HTTPClient

    package init(url: String, token: String, caFile: String? = nil, allowInsecureHTTP: Bool = false) throws(ConstruirError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else {
            throw ConstruirError(.invalidArgument, "'\(url)' is not an http:// or https:// URL")
        }
        if scheme == "http", !allowInsecureHTTP, !Self.isLoopback(host) {
            throw ConstruirError(.invalidArgument, "\(url) is plain HTTP to another machine: the token would cross the network in clear text. Use https://, or --insecure-http to accept that")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw ConstruirError(.invalidArgument, "cannot read the CA certificate \(caFile): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10))
        configuration.redirectConfiguration = .disallow
        self.baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        guard let serverURL = URL(string: baseURL) else { throw ConstruirError(.invalidArgument, "'\(url)' is not a URL") }
        self.serverURL = serverURL
        self.token = HubBearerToken(token: token)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    package func shutdown() async {
        try? await http.shutdown()
    }

    /// Whether `host` names this machine's loopback, where plain HTTP crosses no network.
    package static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Reads a token file: its first line. The file must be private to its owner, like any key.
    package static func readToken(file path: String) throws(ConstruirError) -> String {
        try PrivateFile.firstLine(path, what: "the token file", holding: "token")
    }

    // MARK: Runner calls

    /// The long poll: true as soon as a job waits on the hub, false after `seconds` without one.
    package func waitForWork(seconds: Int) async throws -> Bool {
        switch try await call(timeout: .seconds(Int64(seconds) + 30), { try await $0.waitForWork(query: .init(wait: Double(seconds))) }) {
        case .ok: return true
        case .noContent: return false
        case let other: throw Self.unexpected(other)
        }
    }

    /// Claims the next job this runner can run (`request`: its images); nil when there is none.
    package func claim(_ request: HubClaimRequest = HubClaimRequest()) async throws -> HubClaim? {
        try await claimOrReason(request).claim
    }

    /// `claim`, or, when there is none, why the hub refuses this runner any job for now (nil
    /// when simply none waits).
    package func claimOrReason(_ request: HubClaimRequest = HubClaimRequest()) async throws -> (claim: HubClaim?, reason: String?) {
        switch try await call({ try await $0.claim(body: .json(request)) }) {
        case .ok(let answer): return (try answer.body.json, nil)
        case .noContent(let answer): return (nil, answer.headers.construirReason)
        case let other: throw Self.unexpected(other)
        }
    }

    package func heartbeat(_ id: String) async throws -> HubHeartbeatReply {
        switch try await call({ try await $0.heartbeat(path: .init(id: id)) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    package func release(_ id: String) async throws {
        switch try await call({ try await $0.release(path: .init(id: id)) }) {
        case .noContent: return
        case let other: throw Self.unexpected(other)
        }
    }

    /// Downloads the claimed job to `path`, resuming what an earlier try left there (Range),
    /// and checks it against the claim's size and sha256. A file that does not match is removed.
    package func download(_ claim: HubClaim, to path: String) async throws {
        let file = try await PooledFile(path: path, writing: true)
        var have = try await file.size()
        if have > claim.size {
            try await file.truncate(to: 0)
            have = 0
        }
        if have < claim.size {
            let range = have > 0 ? "bytes=\(have)-" : nil
            let tooMuch = "the hub sent more than the job's \(claim.size) bytes"
            switch try await call(timeout: .hours(1), { try await $0.downloadJob(path: .init(id: claim.id), headers: .init(range: range)) }) {
            case .ok(let answer):
                try await file.truncate(to: 0)
                _ = try await write(try answer.body.applicationXXz, into: file, from: 0, size: claim.size, tooMuch: tooMuch)
            case .partialContent(let answer):
                _ = try await write(try answer.body.binary, into: file, from: have, size: claim.size, tooMuch: tooMuch)
            case let other: throw Self.unexpected(other)
            }
            try await file.sync()
        }
        let digest = try await OwnThread.run("construir-hash-job") { try BuildImage.sha256(ofFile: path) }
        guard digest == claim.sha256 else {
            try? FileManager.default.removeItem(atPath: path)
            throw HubClientError(.failed, "the downloaded job's sha256 is \(digest), not the \(claim.sha256) the hub announced")
        }
    }

    /// Writes `body` into `file` from `offset` on, refusing more than `size` bytes in all
    /// (`tooMuch` says so); returns the offset reached.
    private func write(_ body: HTTPBody, into file: PooledFile, from offset: Int64, size: Int64,
                       hashingInto hash: SHA256Stream? = nil, tooMuch: String) async throws -> Int64 {
        var offset = offset
        for try await chunk in body {
            guard offset + Int64(chunk.count) <= size else { throw HubClientError(.failed, tooMuch) }
            try await file.write(chunk, at: offset, hashingInto: hash)
            offset += Int64(chunk.count)
        }
        return offset
    }

    /// Appends `bytes` to the console of a job that runs, at `offset`; returns what the hub has
    /// now (its size, and whether the job was stopped).
    package func appendConsole(_ id: String, offset: Int64, bytes: ArraySlice<UInt8>) async throws -> Components.Schemas.HubConsoleAppendReply {
        switch try await call({ try await $0.appendConsole(path: .init(id: id), query: .init(offset: offset), body: .binary(HTTPBody(bytes))) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    /// Sends the console log of a finished job.
    package func uploadConsole(_ id: String, file path: String) async throws {
        let body = try await Self.body(ofFile: path)
        switch try await call(timeout: .hours(1), { try await $0.uploadConsole(path: .init(id: id), body: .binary(body)) }) {
        case .noContent: return
        case let other: throw Self.unexpected(other)
        }
    }

    /// Sends the output archive of a finished job.
    package func uploadOutput(_ id: String, file path: String) async throws {
        let body = try await Self.body(ofFile: path)
        switch try await call(timeout: .hours(1), { try await $0.uploadOutput(path: .init(id: id), body: .applicationXXz(body)) }) {
        case .noContent: return
        case let other: throw Self.unexpected(other)
        }
    }

    /// Sends the job's result.json; the hub then finishes the job.
    package func sendResult(_ id: String, result: Data) async throws -> HubReceipt {
        let document: Components.Schemas.JobResult
        do {
            document = try HubJSON.decode(Components.Schemas.JobResult.self, from: result)
        } catch {
            throw HubClientError(.refused, "the result.json to send is not one the hub's API describes: \(error)")
        }
        switch try await call(timeout: .hours(1), { try await $0.sendResult(path: .init(id: id), body: .json(document)) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    // MARK: Build images

    /// The build images the hub serves (404, `failed`, when it serves none).
    package func images() async throws -> [HubImage] {
        switch try await call({ try await $0.listImages() }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    /// Image `index`'s image.json as the hub has it now.
    package func imageManifest(_ index: Int) async throws -> Data {
        switch try await call({ try await $0.downloadImageManifest(path: .init(index: String(index))) }) {
        case .ok(let answer): return try await Data(collecting: try answer.body.binary, upTo: 1 << 20)
        case let other: throw Self.unexpected(other)
        }
    }

    /// Downloads file `file` of image `index` into `path` (created 0600, replaced), hashing
    /// each chunk on the pool thread that writes it. Returns the sha256 of what arrived; throws
    /// when the hub sends more or fewer bytes than the listing's size.
    package func downloadImageFile(_ index: Int, _ file: HubImage.File, to path: String) async throws -> String {
        let output = try await PooledFile(path: path, writing: true)
        try await output.truncate(to: 0)
        let body: HTTPBody
        switch try await call(timeout: .hours(1), { try await $0.downloadImageFile(path: .init(index: String(index), name: file.name)) }) {
        case .ok(let answer): body = try answer.body.binary
        case let other: throw Self.unexpected(other)
        }
        let hash = SHA256Stream()
        let offset = try await write(body, into: output, from: 0, size: file.size, hashingInto: hash,
                                     tooMuch: "image \(index): the hub sent more of \(file.name) than its \(file.size) bytes")
        guard offset == file.size else {
            throw HubClientError(.failed, "image \(index): \(file.name) is truncated: \(offset) of its \(file.size) bytes arrived")
        }
        try await output.sync()
        return hash.hex()
    }

    /// Fetches the hub's image `index` into `root/index`, every file checked, installed in one
    /// step (`ImageInstaller`); `root/index` is left as it was on any failure. `listing` is the
    /// hub's image list when the caller already has it. Returns the hub's entry.
    @discardableResult
    package func pullImage(_ index: Int, into root: String, listing: [HubImage]? = nil) async throws -> HubImage {
        let listed: [HubImage]
        if let listing { listed = listing } else { listed = try await images() }
        guard let image = listed.first(where: { $0.index == index }) else {
            let served = listed.map { String($0.index) }.joined(separator: ", ")
            throw HubClientError(.failed, "the hub serves no build image \(index) (it serves: \(served.isEmpty ? "none" : served))")
        }
        let manifest = try await imageManifest(index)
        try await ImageInstaller(root: root).install(image, manifest: manifest) { file, path in
            try await self.downloadImageFile(index, file, to: path)
        }
        return image
    }

    // MARK: Submitter and status calls

    /// Adds the job file at `path` to the hub's queue as `name` (`NAME_iN.tar.xz`).
    package func submit(file path: String, as name: String) async throws -> HubReceipt {
        let body = try await Self.body(ofFile: path)
        switch try await call(timeout: .hours(1), { try await $0.submit(query: .init(name: name), body: .applicationXXz(body)) }) {
        case .created(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    // MARK: Reading jobs: a submitter's own, or anyone's on a hub with `--results public`

    /// One page of the jobs the caller may read, newest first; `cursor` is the `next` of the
    /// page before.
    package func jobs(state: HubJobState? = nil, status: HubJobStatus? = nil, prefix: String? = nil, submitter: String? = nil,
                     limit: Int? = nil, cursor: String? = nil) async throws -> HubJobPage {
        let query = Operations.ListJobs.Input.Query(state: state, status: status, prefix: prefix, submitter: submitter,
                                                    limit: limit, cursor: cursor)
        switch try await call({ try await $0.listJobs(query: query) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    /// Job `id` now, with its result.json once it is done.
    package func job(_ id: String) async throws -> HubJobDetail {
        switch try await call({ try await $0.getJob(path: .init(id: id)) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    /// Job `id`'s console from byte `offset` on; with `wait`, waits that long for new bytes
    /// or for the job to end. Returns the bytes, the console's size and the job's state.
    package func console(_ id: String, from offset: Int64 = 0, wait: Double = 0) async throws -> (bytes: Data, size: Int64, state: HubJobState) {
        switch try await call(timeout: .seconds(Int64(wait) + 60), { try await $0.readConsole(path: .init(id: id), query: .init(offset: offset, wait: wait)) }) {
        case .ok(let answer):
            let bytes = try await Data(collecting: try answer.body.plainText, upTo: 1 << 30)
            return (bytes, answer.headers.construirConsoleSize, answer.headers.construirJobState)
        case let other: throw Self.unexpected(other)
        }
    }

    /// Downloads job `id`'s output archive, or with `path` one file of its output, into `file`
    /// (created 0600, replaced).
    package func downloadOutput(_ id: String, path: String? = nil, to file: String) async throws {
        let output = try await PooledFile(path: file, writing: true)
        try await output.truncate(to: 0)
        let body: HTTPBody
        switch try await call(timeout: .hours(1), { try await $0.downloadOutput(path: .init(id: id), query: .init(path: path)) }) {
        case .ok(let answer): body = try answer.body.binary
        case let other: throw Self.unexpected(other)
        }
        _ = try await write(body, into: output, from: 0, size: .max, tooMuch: "")
        try await output.sync()
    }

    /// Stops one of the caller's jobs (submitter); returns it as it is then.
    package func stop(_ id: String) async throws -> HubJobSummary {
        switch try await call({ try await $0.stopJob(path: .init(id: id)) }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    package func status() async throws -> HubStatus {
        switch try await call({ try await $0.status() }) {
        case .ok(let answer): return try answer.body.json
        case let other: throw Self.unexpected(other)
        }
    }

    // MARK: Plumbing

    /// Makes one call through the generated client, with `timeout` for the whole exchange. The
    /// hub's error answers arrive as the `HubClientError` that `HubClientErrors` made of them;
    /// no answer at all is `unreachable`.
    private func call<Output>(timeout: TimeAmount = .seconds(60), _ body: (Client) async throws -> Output) async throws -> Output {
        let transport = AsyncHTTPClientTransport(configuration: .init(client: http, timeout: timeout))
        let client = Client(serverURL: serverURL, configuration: HubJSON.configuration, transport: transport,
                            middlewares: [token, HubClientErrors()])
        do {
            return try await body(client)
        } catch let error as ClientError {
            if let error = error.underlyingError as? HubClientError { throw error }
            if error.underlyingError is CancellationError { throw CancellationError() }
            guard error.response != nil else {
                throw HubClientError(.unreachable, "cannot reach the hub at \(baseURL): \(error.underlyingError)")
            }
            throw HubClientError(.failed, "the hub's answer is not what this runner understands: \(error.causeDescription): \(error.underlyingError)")
        }
    }

    /// An answer the call does not expect, though the description allows it.
    private static func unexpected(_ output: some Sendable) -> HubClientError {
        HubClientError(.failed, "the hub's answer is not what this runner expects: \(output)")
    }

    /// A file to send, read in chunks on NIO's thread pool as the connection takes them.
    private static func body(ofFile path: String) async throws -> HTTPBody {
        let file = try await PooledFile(path: path, writing: false)
        let size = try await file.size()
        return HTTPBody(file.chunks(to: size).map { ArraySlice($0.readableBytesView) }, length: .known(size), iterationBehavior: .single)
    }
}
