/// The body of every error answer: `{"error": "..."}`, a sentence for people.
public struct HubErrorBody: Codable, Sendable, Equatable {
    public var error: String

    public init(error: String) {
        self.error = error
    }
}
