import Synchronization

/// Runs a closure the first time only; for warnings that would otherwise repeat for every job.
final class Once: Sendable {
    private let done = Atomic<Bool>(false)

    func once(_ body: () -> Void) {
        if !done.exchange(true, ordering: .acquiringAndReleasing) { body() }
    }
}
