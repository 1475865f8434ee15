import CConstruir
import Glibc

extension ChildProcess {
    /// What waiting for a child needs, apart from the child object, so that a thread of its own
    /// can wait for it (`exit`).
    struct Watch: Sendable {
        let pid: pid_t
        /// A pidfd (readable once the child has ended), or -1 where the kernel has none.
        let pidfd: Int32
        let processGroup: Bool

        /// Waits (blocking) for the child and reaps it; past `timeout`, stops it (`stop`).
        func wait(timeout: Duration?, grace: Duration) -> Termination {
            if let timeout, !ended(within: timeout) {
                stop(grace: grace)
                _ = reap()
                return .timedOut
            }
            return reap()
        }

        /// SIGTERM, then SIGKILL after `grace`; with a process group, both go to the group, and
        /// whatever of it outlived the child (a grandchild ignoring SIGTERM) is killed too. The
        /// child is not reaped yet, so its pid, and its group's id, still name it and what it started.
        func stop(grace: Duration) {
            signal(SIGTERM)
            if !ended(within: grace) { signal(SIGKILL) }
            if processGroup { _ = kill(-pid, SIGKILL) }
        }

        /// Waits for the child to end, collects its status and lets go of its pid.
        func reap() -> Termination {
            defer { if pidfd >= 0 { close(pidfd) } }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        }

        private func signal(_ number: Int32) {
            _ = kill(processGroup ? -pid : pid, number)
        }

        /// Whether the child ended within `limit` (it is not reaped).
        private func ended(within limit: Duration) -> Bool {
            let deadline = ContinuousClock.now + limit
            while true {
                let left = deadline - ContinuousClock.now
                let milliseconds = max(0, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                if pidfd >= 0 {
                    var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&entry, 1, milliseconds)
                    if ready > 0 { return true }
                    if ready < 0 && errno == EINTR { continue }
                    if ready == 0 { return false }
                } else {
                    // No pidfd: look without reaping, every 10 ms.
                    var info = siginfo_t()
                    if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == pid {
                        return true
                    }
                    if milliseconds == 0 { return false }
                    usleep(UInt32(min(milliseconds, 10)) * 1000)
                    continue
                }
                return false
            }
        }
    }
}
