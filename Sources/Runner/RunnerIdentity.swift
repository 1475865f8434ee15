import ConstruirSystem
import Foundation
import JobModel

/// Who this runner process is among all runners sharing a queue: `HOST.N`, held by a lock on
/// `STATE/runners/HOST.N.lock` for the life of the process. The lock is the liveness test for
/// the jobs it claims; N is the smallest free number, so a runner restarted after a crash takes
/// the identity (and the embedded libvirt root) of the one that died.
package final class RunnerIdentity: Sendable {
    package let id: String
    package let host: String
    package let directory: String
    private let lock: FileLock

    private init(id: String, host: String, directory: String, lock: FileLock) {
        self.id = id
        self.host = host
        self.directory = directory
        self.lock = lock
    }

    package static func acquire(stateDirectory: String) throws -> RunnerIdentity {
        let directory = "\(stateDirectory)/runners"
        try FileSystem.makeDirectory(directory, mode: 0o755)
        let host = hostName()
        for n in 1...256 {
            let id = "\(host).\(n)"
            if let lock = try FileLock.tryLock("\(directory)/\(id).lock") {
                return RunnerIdentity(id: id, host: host, directory: directory, lock: lock)
            }
        }
        throw ConstruirError(.limitExceeded, "256 runners already use the state directory \(stateDirectory)")
    }

    /// The identity of a short-lived process that claims a job without being a runner
    /// (`construir kill` taking a queued job): `HOST.ROLE-PID`. Its lock makes its claim a live
    /// one to the runners' orphan scans; it never takes a runner's `HOST.N` (and with it that
    /// runner's libvirt root). `discard()` removes the lock file when it is done.
    package static func acquire(stateDirectory: String, role: String) throws -> RunnerIdentity {
        let directory = "\(stateDirectory)/runners"
        try FileSystem.makeDirectory(directory, mode: 0o755)
        let host = hostName()
        let id = "\(host).\(role)-\(getpid())"
        guard let lock = try FileLock.tryLock("\(directory)/\(id).lock") else {
            throw ConstruirError(.system, "the lock \(directory)/\(id).lock is held by another process")
        }
        return RunnerIdentity(id: id, host: host, directory: directory, lock: lock)
    }

    /// Removes the lock file of an identity from `acquire(stateDirectory:role:)` (no other
    /// process ever takes its name); the lock itself ends with this value.
    package func discard() {
        unlink(lock.path)
    }

    /// Whether the runner that wrote `claim` is alive: this process, or another runner whose
    /// lock is held. A claim with this identity but another pid was made by the process that
    /// held the identity before this one (it died, or this one could not have taken the lock).
    package func isAlive(_ claim: ClaimRecord) -> Bool {
        if claim.runner == id { return claim.pid == getpid() }
        return FileLock.isHeld("\(directory)/\(claim.runner).lock")
    }

    /// Whether the runner `id` is alive: this one, or one whose lock is held by someone.
    package func isAlive(_ id: String) -> Bool {
        id == self.id || FileLock.isHeld("\(directory)/\(id).lock")
    }

    /// The host's name as runner identities and file names may hold it.
    static func hostName() -> String {
        let name = HostName.current()
        let safe = String(name.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") ? Character($0) : "_" })
        return safe.isEmpty ? "localhost" : String(safe.prefix(64))
    }
}
