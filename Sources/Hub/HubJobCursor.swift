import Foundation
import HubStore

/// A listing's `next`: where its page ended, as text a client passes back unread. It names a
/// time and an id, never a secret, so a forged one only moves the page.
enum HubJobCursor {
    static func make(_ position: HubJobQuery.Position) -> String {
        let text = "\(position.queued.timeIntervalSince1970) \(position.id)"
        return Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func read(_ cursor: String) throws -> HubJobQuery.Position {
        let base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else { throw invalid }
        let parts = text.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let seconds = Double(parts[0]), seconds.isFinite else { throw invalid }
        return HubJobQuery.Position(queued: Date(timeIntervalSince1970: seconds), id: String(parts[1]))
    }

    static let invalid = HubHTTPError(.badRequest, "cursor: not the `next` of a listing")
}
