import ConstruirSystem
import Foundation
import Glibc
import JobModel

/// A hub's tokens file: who may call the hub's API, and as what.
///
/// The file holds names, roles and the sha256 of each secret. A secret is printed once, when it
/// is made, and is not kept anywhere: whoever reads the file learns no token. The file is
/// written atomically with mode 0600, and read only when it is a regular file of this user that
/// nobody else can read or write. A file someone else could change could grant them a token.
/// Changes are serialised by a lock beside it (`FILE.lock`).
package struct HubTokenStore: Sendable {
    package let path: String

    package init(path: String) {
        self.path = path
    }

    private struct Contents: Codable {
        var version: Int
        var tokens: [HubToken]
    }

    static let version = 1
    /// Larger than any real tokens file; a bigger one is refused rather than read.
    static let maxFileSize = 4 << 20
    /// The prefix of every secret, so that secret scanners and people can tell one when they see it.
    package static let secretPrefix = "construir_"

    /// Every token, revoked ones included, in the order they were added. A missing file has none.
    package func tokens() throws(ConstruirError) -> [HubToken] {
        try read() ?? []
    }

    /// Makes a token for `name` and returns its secret, which only the caller ever sees.
    package func add(name: String, role: HubRole, tags: [String] = [], now: Date = Date()) throws(ConstruirError) -> String {
        if let problem = HubToken.problem(withName: name) { throw ConstruirError(.invalidArgument, problem) }
        if !tags.isEmpty, role != .runner { throw ConstruirError(.invalidArgument, "--tag: only a runner token has tags") }
        try JobTags.check(tags)
        return try changing { tokens throws(ConstruirError) in
            if tokens.contains(where: { $0.name == name }) {
                throw ConstruirError(.invalidArgument, "a token named \(name) already exists in \(path) (revoked tokens keep their name)")
            }
            let secret = Self.newSecret()
            tokens.append(HubToken(name: name, role: role, sha256: Hex.sha256(secret), created: now, tags: tags.isEmpty ? nil : tags))
            return secret
        }
    }

    /// Revokes the token `name`: from now on it authenticates nothing.
    package func revoke(name: String, now: Date = Date()) throws(ConstruirError) {
        try changing { tokens throws(ConstruirError) in
            guard let index = tokens.firstIndex(where: { $0.name == name }) else {
                throw ConstruirError(.notFound, "no token named \(name) in \(path)")
            }
            if tokens[index].revoked == nil { tokens[index].revoked = now }
        }
    }

    /// The live token whose secret is `secret`, or nil.
    package static func authenticate(_ secret: String, among tokens: [HubToken]) -> HubToken? {
        let digest = Hex.sha256(secret)
        return tokens.first { $0.revoked == nil && $0.sha256 == digest }
    }

    /// 32 bytes from the system's secure generator (getrandom), as hex after the prefix.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return secretPrefix + Hex.string(bytes)
    }

    /// Runs `change` on the tokens under the lock and writes them back.
    private func changing<T>(_ change: (inout [HubToken]) throws(ConstruirError) -> T) throws(ConstruirError) -> T {
        var lock: FileLock?
        // Waits up to a second: another change holds the lock only for a moment, and so may a
        // child process forked by this one before its exec closes the inherited descriptor.
        for attempt in 0..<50 where lock == nil {
            if attempt > 0 { usleep(20_000) }
            do {
                lock = try FileLock.tryLock("\(path).lock", mode: 0o600)
            } catch {
                throw ConstruirError(.system, "cannot lock \(path).lock: \(error)")
            }
        }
        guard let lock else {
            throw ConstruirError(.system, "another `construir hub token` is changing \(path); try again")
        }
        defer { _ = lock }
        var tokens = try read() ?? []
        let result = try change(&tokens)
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            let data = try encoder.encode(Contents(version: Self.version, tokens: tokens))
            try FileSystem.writeDurably(data, to: path, mode: 0o600)
        } catch {
            throw ConstruirError(.system, "cannot write \(path): \(error)")
        }
        return result
    }

    /// The file's tokens; nil when it does not exist. Anything else that is not a valid tokens
    /// file of this user, private to them, is an error that names the problem.
    private func read() throws(ConstruirError) -> [HubToken]? {
        let data: Data
        do {
            data = Data(try PrivateFile.read(path, what: "the tokens file", maxBytes: Self.maxFileSize))
        } catch where error.code == .notFound {
            return nil
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let contents = try? decoder.decode(Contents.self, from: data), contents.version == Self.version else {
            throw ConstruirError(.invalidArgument, "\(path) is not a construir tokens file (version \(Self.version))")
        }
        return contents.tokens
    }
}
