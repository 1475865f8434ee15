import ConstruirSystem
import Foundation
import Synchronization

/// Who is calling: the tokens file's live tokens, held in memory so that no request reads a
/// file. The hub reloads them when the file changes (`reloadIfChanged`, from its maintenance
/// loop), so a revoked token stops working within a second.
package final class HubAuthenticator: Sendable {
    package let store: HubTokenStore
    private struct Loaded {
        var tokens: [HubToken] = []
        var file: FileIdentity?
    }
    private let loaded = Mutex(Loaded())

    /// What a request's `Authorization` header proves.
    package enum Outcome: Sendable, Equatable {
        case token(HubToken)
        /// No `Authorization: Bearer` header.
        case missing
        /// A secret no live token has: unknown, or revoked.
        case refused
    }

    /// Reads the tokens file now: a file that is not a valid private tokens file is an error.
    package init(store: HubTokenStore) throws(ConstruirError) {
        self.store = store
        try reloadIfChanged()
    }

    /// Reads the tokens file again if it changed since the last read. Blocking (a stat, and a
    /// read when it changed): call it from a thread of its own. On error the tokens stay as
    /// they were, except that a file now unsafe to trust authenticates nobody.
    package func reloadIfChanged() throws(ConstruirError) {
        // Any rewrite of the file (an atomic rename) changes its inode and ctime.
        let identity = FileIdentity(path: store.path)
        if let identity, identity == loaded.withLock({ $0.file }) { return }
        do {
            let tokens = try store.tokens()
            loaded.withLock { $0 = Loaded(tokens: tokens, file: identity) }
        } catch {
            if error.code == .untrustedPath { loaded.withLock { $0 = Loaded() } }
            throw error
        }
    }

    /// The live token named `name`, if it still is one (a session's token may be revoked).
    package func token(named name: String) -> HubToken? {
        loaded.withLock { $0.tokens.first { $0.name == name && $0.revoked == nil } }
    }

    package func authenticate(authorization: String?) -> Outcome {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return .missing }
        let secret = authorization.dropFirst("bearer ".count).trimmingCharacters(in: .whitespaces)
        let tokens = loaded.withLock { $0.tokens }
        return HubTokenStore.authenticate(secret, among: tokens).map { .token($0) } ?? .refused
    }
}
