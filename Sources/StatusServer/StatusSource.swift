import Foundation
import JobModel

/// What the status server reads: `QueueObserver` reads the queue's directories; a test's fake
/// can be slow on purpose. Its calls block.
package protocol StatusSource: Sendable {
    var doneDirectory: String { get }
    func snapshot(now: Date, doneLimit: Int?) -> QueueSnapshot
    func result(directory name: String) -> JobResult?
}

extension QueueObserver: StatusSource {}
