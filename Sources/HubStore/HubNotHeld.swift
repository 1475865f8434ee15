/// A lease call refused: the job is not (or no longer) held by this runner. The API answers it
/// with 409, which tells a runner to drop the job.
package struct HubNotHeld: Error, Sendable, CustomStringConvertible {
    package let id: String

    package init(id: String) {
        self.id = id
    }

    package var description: String { "job \(id) is not leased to this runner (its lease expired, or it never was)" }
}
