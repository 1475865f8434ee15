/// A lease call refused: the job is not (or no longer) held by this runner. The API answers it
/// with 409, which tells a runner to drop the job.
public struct HubNotHeld: Error, Sendable, CustomStringConvertible {
    public let id: String

    public init(id: String) {
        self.id = id
    }

    public var description: String { "job \(id) is not leased to this runner (its lease expired, or it never was)" }
}
