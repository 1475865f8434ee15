import ConstruirSystem

/// One started job VM. It ends in exactly one way: the guest powers off, the domain stops for
/// another reason, or the runner destroys it (timeout, a limit, a stopping runner).
package protocol JobMachine: Sendable {
    var name: String { get }

    /// The first stop of the domain on its own (guest power-off, crash, QEMU gone); nil when the
    /// waiting task is cancelled first. One waiter per machine.
    func stopped() async -> StopReason?

    /// Kills the VM now; harmless when it already stopped. libvirt's destroy takes ~1.4 s; it
    /// runs to its end even when the calling task is cancelled.
    func destroy() async

    /// Waits for the hypervisor to report the domain gone (QEMU stopped and cleaned up): true
    /// then, false when the task is cancelled first.
    func ended() async -> Bool

    /// Stops the guest's CPUs where they are (libvirt's suspend): it keeps its memory and
    /// resumes where it left off. Not at idle priority: the owner wants the CPUs now.
    func suspend() async throws

    /// Lets a suspended guest go on.
    func resume() async throws

    /// Sets the size the guest sees of the disk at `target` (e.g. "vdb") to `bytes`, growing its
    /// file; the guest is told at once (virtio-blk's configuration change).
    func resizeDisk(target: String, bytes: Int64) async throws

    /// Whether the domain still runs (a warm VM is looked at before it gets a job).
    func isRunning() async -> Bool
}

extension JobMachine {
    /// Waits for the VM to stop, or for a reason to stop it: `timeout`, the reason `watchdog`
    /// (called every `interval`) returns (a limit, a kill request), or the task's cancellation.
    /// Time `pauses` counts as paused does not count towards `timeout`, and a timeout never
    /// fires while paused.
    ///
    /// Unless the reason is `.guestPoweredOff`, the guest may still run: call `destroy()`
    /// before reading its disks. A guest that powered off is halted (QEMU paused on its
    /// power-off with its I/O drained), so its disks are final; destroying it takes ~1.4 s that
    /// need not delay the result, so the caller does it when it suits.
    package func waitForStop(timeout: Duration, pauses: PauseClock? = nil, watchdog: (@Sendable () -> StopReason?)? = nil,
                            interval: Duration = .milliseconds(500)) async -> StopReason {
        let start = ContinuousClock.now
        return await withTaskGroup(of: StopReason?.self) { group in
            group.addTask { await self.stopped() }
            group.addTask {
                while !Task.isCancelled {
                    let now = ContinuousClock.now
                    let paused = pauses?.isPaused ?? false
                    let due = start + timeout + (pauses?.paused(at: now) ?? .zero)
                    if !paused, now >= due { return .timedOut }
                    // While paused the deadline moves with the clock: look again each second.
                    try? await Task.sleep(until: paused ? now + .seconds(1) : due)
                }
                return nil
            }
            if let watchdog {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if Task.isCancelled { return nil }
                        if let reason = watchdog() { return reason }
                    }
                    return nil
                }
            }
            var outcome: StopReason = .stopped(detail: "cancelled")
            for await value in group {
                if let value {
                    outcome = value
                    break
                }
                if Task.isCancelled { break }
            }
            group.cancelAll()
            return outcome
        }
    }

    /// Lets a VM whose guest powered off end by itself, with no call into libvirt: libvirt stops
    /// its QEMU (`on_poweroff` destroy) and holds the domain's lock meanwhile, up to seconds. A
    /// destroy, or any look at the domain, waits on that lock while holding libvirt's domain
    /// list, and the next VM's start waits on the list: back-to-back jobs paid ~1.4 s each for
    /// the teardown before them. Destroyed after `grace` if libvirt never says it ended, or at
    /// once when the task is cancelled (the runner stops): a teardown is never left half done.
    package func letEnd(grace: Duration = .seconds(30)) async {
        let ended = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.ended() }
            group.addTask { try? await Task.sleep(for: grace); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !ended { await destroy() }
    }
}
