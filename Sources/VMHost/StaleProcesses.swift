import Foundation
import Glibc

/// QEMU processes found through /proc by the domain name libvirt gave them (`-name guest=NAME,…`).
///
/// Why: the embedded driver runs QEMU as a child of the runner, daemonised; when the runner is
/// killed (`kill -9`, OOM) those processes live on. A restarted runner finds them here and kills
/// them before their jobs are run again, whichever libvirt root they were started from.
package enum StaleProcesses {
    /// Domain name → pid of every QEMU process of this user (all users, for root) whose domain
    /// name passes `matching`.
    package static func qemuDomains(matching: (String) -> Bool) -> [String: pid_t] {
        var found: [String: pid_t] = [:]
        let me = getuid()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry) else { continue }
            var st = stat()
            guard stat("/proc/\(entry)", &st) == 0, me == 0 || st.st_uid == me else { continue }
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty else { continue }
            guard let name = domainName(commandLine: data), matching(name) else { continue }
            found[name] = pid
        }
        return found
    }

    /// The domain name in a QEMU command line (NUL-separated arguments), or nil.
    package static func domainName(commandLine data: Data) -> String? {
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let first = arguments.first, first.contains("qemu") else { return nil }
        guard let index = arguments.firstIndex(of: "-name"), index + 1 < arguments.count else { return nil }
        for option in arguments[index + 1].split(separator: ",") where option.hasPrefix("guest=") {
            return String(option.dropFirst("guest=".count))
        }
        let plain = arguments[index + 1]
        return plain.contains("=") ? nil : plain
    }

    /// Sends SIGKILL to the QEMU processes of the named domains and waits (up to 5 s) until they
    /// are gone. Returns the names of those it killed.
    ///
    /// The wait blocks this thread: call it from a thread of its own (`OwnThread`, as
    /// `Hypervisor.destroyLeftover`'s callers do) or from code that is not async.
    @discardableResult
    package static func kill(domains names: Set<String>) -> [String] {
        let targets = qemuDomains(matching: names.contains)
        for pid in targets.values { _ = Glibc.kill(pid, SIGKILL) }
        for _ in 0..<100 where targets.values.contains(where: { Glibc.kill($0, 0) == 0 && !isZombie($0) }) {
            usleep(50_000)
        }
        return targets.keys.sorted()
    }

    private static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
