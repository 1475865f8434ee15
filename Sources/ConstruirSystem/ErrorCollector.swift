import Foundation
import Synchronization

/// A child's standard error, handed from the thread that reads it to the one that reports it.
final class ErrorCollector: Sendable {
    private let data = Mutex(Data())
    func set(_ value: Data) { data.withLock { $0 = value } }
    func get() -> Data { data.withLock { $0 } }
}
