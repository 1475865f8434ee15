import Foundation
import Synchronization

/// The web pages' logins: a submitter pastes its token once and gets a session cookie. The
/// session names the token (checked again on every page, so a revoked token ends it) and
/// carries the CSRF token its forms must send back. Sessions live in this hub's memory: a
/// restart, or a page served by another hub behind the same address, asks to log in again.
final class HubWebSessions: Sendable {
    struct Session: Sendable {
        var token: String
        var csrf: String
        var expires: Date
    }

    private let sessions = Mutex<[String: Session]>([:])
    static let lifetime: TimeInterval = 12 * 3600
    static let cookie = "construir_session"

    /// A new session for token `name`: its cookie value and its CSRF token.
    func start(token name: String, now: Date = Date()) -> (id: String, csrf: String) {
        let (id, csrf) = (Self.random(), Self.random())
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.expires > now }
            sessions[id] = Session(token: name, csrf: csrf, expires: now.addingTimeInterval(Self.lifetime))
        }
        return (id, csrf)
    }

    func session(_ id: String?, now: Date = Date()) -> Session? {
        guard let id else { return nil }
        return sessions.withLock { $0[id].flatMap { $0.expires > now ? $0 : nil } }
    }

    func end(_ id: String?) {
        guard let id else { return }
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// 32 bytes from the system's generator (getrandom), as hex.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
