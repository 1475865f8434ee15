import AsyncHTTPClient
import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// The hub's API as a runner or a submitter calls it (docs/hub.md). One HTTP client with its
/// connection pool; call `shutdown()` when done.
///
/// HTTPS is verified against the system's trust store, or only against `--ca FILE`. Plain HTTP
/// is refused unless the hub is on this machine (loopback) or `allowInsecureHTTP` says so: a
/// token sent in clear text is a token given away.
public final class HubClient: Sendable {
    public let baseURL: String
    private let authorization: String
    private let http: HTTPClient

    public init(url: String, token: String, caFile: String? = nil, allowInsecureHTTP: Bool = false) throws(ConstruirError) {
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
        self.authorization = "Bearer \(token)"
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Whether `host` names this machine's loopback, where plain HTTP crosses no network.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Reads a token file: its first line. The file must be private to its owner, like any key.
    public static func readToken(file path: String) throws(ConstruirError) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ConstruirError(.notFound, "cannot read the token file \(path)") }
        guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == getuid(), st.st_mode & 0o077 == 0 else {
            throw ConstruirError(.untrustedPath, "the token file \(path) must be a regular file of yours that nobody else may read (chmod 600)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let token = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }),
              !token.isEmpty else {
            throw ConstruirError(.invalidArgument, "the token file \(path) holds no token")
        }
        return token
    }

    // MARK: Runner calls

    /// The long poll: true as soon as a job waits on the hub, false after `seconds` without one.
    public func waitForWork(seconds: Int) async throws -> Bool {
        let response = try await send(.GET, "\(HubPaths.work)?wait=\(seconds)", timeout: .seconds(Int64(seconds) + 30))
        return try await expect(response, [.ok, .noContent]) == .ok
    }

    /// Claims the next job this runner can run (`request`: its images); nil when there is none.
    public func claim(_ request: HubClaimRequest = HubClaimRequest()) async throws -> HubClaim? {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        let response = try await send(.POST, HubPaths.claim, headers: headers, body: .bytes(ByteBuffer(bytes: try HubJSON.encode(request))))
        guard try await expect(response, [.ok, .noContent]) == .ok else { return nil }
        return try await decode(HubClaim.self, response)
    }

    public func heartbeat(_ id: String) async throws -> HubHeartbeatReply {
        let response = try await send(.POST, HubPaths.heartbeat(id))
        _ = try await expect(response, [.ok])
        return try await decode(HubHeartbeatReply.self, response)
    }

    public func release(_ id: String) async throws {
        _ = try await expect(try await send(.POST, HubPaths.release(id)), [.noContent])
    }

    /// Downloads the claimed job to `path`, resuming what an earlier try left there (Range),
    /// and checks it against the claim's size and sha256. A file that does not match is removed.
    public func download(_ claim: HubClaim, to path: String) async throws {
        let file = try await PooledFile(path: path, writing: true)
        var have = try await file.size()
        if have > claim.size {
            try await file.truncate(to: 0)
            have = 0
        }
        if have < claim.size {
            var headers = HTTPHeaders()
            if have > 0 { headers.add(name: "Range", value: "bytes=\(have)-") }
            let response = try await send(.GET, HubPaths.job(claim.id), headers: headers, timeout: .hours(1))
            let status = try await expect(response, [.ok, .partialContent])
            if status == .ok { try await file.truncate(to: 0) }
            _ = try await write(response, into: file, from: status == .partialContent ? have : 0, size: claim.size,
                                tooMuch: "the hub sent more than the job's \(claim.size) bytes")
            try await file.sync()
        }
        let digest = try await OwnThread.run("construir-hash-job") { try BuildImage.sha256(ofFile: path) }
        guard digest == claim.sha256 else {
            try? FileManager.default.removeItem(atPath: path)
            throw HubClientError(.failed, "the downloaded job's sha256 is \(digest), not the \(claim.sha256) the hub announced")
        }
    }

    /// Writes `response`'s body into `file` from `offset` on, refusing more than `size` bytes in
    /// all (`tooMuch` says so); returns the offset reached.
    private func write(_ response: HTTPClientResponse, into file: PooledFile, from offset: Int64, size: Int64,
                       hashingInto hash: SHA256Stream? = nil, tooMuch: String) async throws -> Int64 {
        var offset = offset
        for try await buffer in response.body {
            guard offset + Int64(buffer.readableBytes) <= size else { throw HubClientError(.failed, tooMuch) }
            try await file.write(buffer, at: offset, hashingInto: hash)
            offset += Int64(buffer.readableBytes)
        }
        return offset
    }

    /// Sends a file of a finished job (console log or output archive).
    public func upload(file path: String, to route: String) async throws {
        let file = try await PooledFile(path: path, writing: false)
        let size = try await file.size()
        let response = try await send(.PUT, route, body: .stream(file.chunks(), length: .known(size)), timeout: .hours(1))
        _ = try await expect(response, [.noContent])
    }

    /// Sends the job's result.json; the hub then finishes the job.
    public func sendResult(_ id: String, result: Data) async throws -> HubReceipt {
        let response = try await send(.POST, HubPaths.result(id), body: .bytes(ByteBuffer(bytes: result)), timeout: .hours(1))
        _ = try await expect(response, [.ok])
        return try await decode(HubReceipt.self, response)
    }

    // MARK: Build images

    /// The build images the hub serves (404, `failed`, when it serves none).
    public func images() async throws -> [HubImage] {
        let response = try await send(.GET, HubPaths.images)
        _ = try await expect(response, [.ok])
        return try await decode([HubImage].self, response)
    }

    /// Image `index`'s image.json as the hub has it now.
    public func imageManifest(_ index: Int) async throws -> Data {
        let response = try await send(.GET, HubPaths.imageManifest(index))
        _ = try await expect(response, [.ok])
        return Data(buffer: try await response.body.collect(upTo: 1 << 20))
    }

    /// Downloads file `file` of image `index` into `path` (created 0600, replaced), hashing
    /// each chunk on the pool thread that writes it. Returns the sha256 of what arrived; throws
    /// when the hub sends more or fewer bytes than the listing's size.
    public func downloadImageFile(_ index: Int, _ file: HubImage.File, to path: String) async throws -> String {
        let output = try await PooledFile(path: path, writing: true)
        try await output.truncate(to: 0)
        let response = try await send(.GET, HubPaths.imageFile(index, file.name), timeout: .hours(1))
        _ = try await expect(response, [.ok])
        let hash = SHA256Stream()
        let offset = try await write(response, into: output, from: 0, size: file.size, hashingInto: hash,
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
    public func pullImage(_ index: Int, into root: String, listing: [HubImage]? = nil) async throws -> HubImage {
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
    public func submit(file path: String, as name: String) async throws -> HubReceipt {
        let file = try await PooledFile(path: path, writing: false)
        let size = try await file.size()
        let query = name.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&+=#"))) ?? name
        let response = try await send(.POST, "\(HubPaths.jobs)?name=\(query)", body: .stream(file.chunks(), length: .known(size)),
                                      timeout: .hours(1))
        _ = try await expect(response, [.created])
        return try await decode(HubReceipt.self, response)
    }

    public func status() async throws -> HubStatus {
        let response = try await send(.GET, HubPaths.status)
        _ = try await expect(response, [.ok])
        return try await decode(HubStatus.self, response)
    }

    // MARK: Plumbing

    private func send(_ method: HTTPMethod, _ route: String, headers: HTTPHeaders = [:], body: HTTPClientRequest.Body? = nil,
                      timeout: TimeAmount = .seconds(60)) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + route)
        request.method = method
        request.headers = headers
        request.headers.replaceOrAdd(name: "Authorization", value: authorization)
        request.headers.replaceOrAdd(name: "User-Agent", value: "construir")
        request.body = body
        do {
            return try await http.execute(request, timeout: timeout)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw HubClientError(.unreachable, "cannot reach the hub at \(baseURL): \(error)")
        }
    }

    /// The response's status if it is one of `accepted`; otherwise the hub's error, classified.
    private func expect(_ response: HTTPClientResponse, _ accepted: [HTTPResponseStatus]) async throws -> HTTPResponseStatus {
        if accepted.contains(response.status) { return response.status }
        let body = (try? await response.body.collect(upTo: 64 * 1024)).map { Data(buffer: $0) } ?? Data()
        let message = (try? HubJSON.decode(HubErrorBody.self, from: body))?.error ?? response.status.reasonPhrase
        let kind: HubClientError.Kind = switch response.status.code {
        case 401, 403: .unauthorized
        case 409: .leaseLost
        case 413, 422: .refused
        default: .failed
        }
        throw HubClientError(kind, status: Int(response.status.code), message)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPClientResponse) async throws -> T {
        let body = try await response.body.collect(upTo: 1 << 20)
        do {
            return try HubJSON.decode(type, from: Data(buffer: body))
        } catch {
            throw HubClientError(.failed, "the hub's answer is not what this runner understands: \(error)")
        }
    }
}
