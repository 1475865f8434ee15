import ConstruirSystem
import Foundation
import Logging
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
@testable import VMHost

extension VMSuites {
/// The volunteer-mode hardening, checked on real VMs: the QEMU command line libvirt generates,
/// the live limits, and a guest that tries to reach the host over the network.
@Suite(.serialized) struct HardeningIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let imagesDirectory = "\(repository)/images"

    private func requireImage() throws -> BuildImage {
        try requireImage0()
        return try ImageStore(root: Self.imagesDirectory).image(0)
    }

    /// The command line of the running QEMU whose `-name guest=NAME` matches, from /proc.
    private func qemuProcess(named name: String) -> (pid: Int32, arguments: [String])? {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        for pid in pids {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if arguments.first?.contains("qemu-system") == true, arguments.contains(where: { $0.hasPrefix("guest=\(name),") }) {
                return (pid, arguments)
            }
        }
        return nil
    }

    private func values(of option: String, in arguments: [String]) -> [String] {
        zip(arguments, arguments.dropFirst()).filter { $0.0 == option }.map(\.1)
    }

    /// A domain running `DIR/job.tar.xz` (jobs/forever) with fresh output and status disks named
    /// after it.
    private func foreverDomain(_ name: String, image: BuildImage, in dir: String, cpus: Int) throws -> DomainConfiguration {
        for disk in ["out", "status"] {
            try FileSystem.createSparseFile("\(dir)/\(name)-\(disk).img", size: 1 << 20)
        }
        return DomainConfiguration(
            name: name, acceleration: .tcg, memoryMiB: 256, cpus: cpus,
            kernel: image.kernelPath, initrd: image.initrdPath, commandLine: image.manifest.cmdline,
            disks: [.init(path: "\(dir)/job.tar.xz", serial: "construir-job", readOnly: true, relabel: false),
                    .init(path: "\(dir)/\(name)-out.img", serial: "construir-output", readOnly: false, relabel: false),
                    .init(path: "\(dir)/\(name)-status.img", serial: "construir-status", readOnly: false, relabel: false)],
            consoleLog: "\(dir)/\(name)-console.log")
    }

    @Test func qemuRunsSandboxedWithOnlyTheNeededDevicesAndLimits() async throws {
        let image = try requireImage()
        try await withTemporaryDirectory { dir in
            chmod(dir, 0o755)
            let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/forever", "\(dir)/job.tar.xz"])
            #expect(status == 0)
            let name = "construir-hardening-\(getpid())"
            let configuration = try foreverDomain(name, image: image, in: dir, cpus: 64)
            let hypervisor = try SharedHypervisor.instance.get()
            let machine = try await hypervisor.start(configuration)
            defer { machine.destroyNow() }

            let (pid, arguments) = try #require(qemuProcess(named: name), "no QEMU process for \(name)")
            let commandLine = arguments.joined(separator: " ")

            // The seccomp sandbox, with everything it can deny denied.
            let sandbox = try #require(values(of: "-sandbox", in: arguments).first)
            for part in ["on", "obsolete=deny", "elevateprivileges=deny", "spawn=deny", "resourcecontrol=deny"] {
                #expect(sandbox.split(separator: ",").map(String.init).contains(part), "\(sandbox)")
            }
            // No defaults, no display, no network of any kind.
            #expect(arguments.contains("-nodefaults"))
            #expect(values(of: "-display", in: arguments) == ["none"])
            for option in ["-netdev", "-nic", "-net", "-vga", "-spice", "-vnc", "-usb", "-usbdevice", "-audiodev-net", "-soundhw", "-fsdev", "-virtfs"] {
                #expect(!arguments.contains(option), "\(option) in \(commandLine)")
            }
            #expect(values(of: "-machine", in: arguments).first?.contains("usb=off") == true)
            // Exactly the devices needed: three virtio disks and one serial port.
            let drivers = values(of: "-device", in: arguments).compactMap { device -> String? in
                let object = try? JSONSerialization.jsonObject(with: Data(device.utf8)) as? [String: Any]
                return (object?["driver"] as? String) ?? device.split(separator: ",").first.map(String.init)
            }
            #expect(drivers.sorted() == ["isa-serial", "virtio-blk-pci", "virtio-blk-pci", "virtio-blk-pci"], "\(drivers)")
            // Every disk's format node is raw, never probed.
            let formats = values(of: "-blockdev", in: arguments).compactMap { node -> String? in
                let object = try? JSONSerialization.jsonObject(with: Data(node.utf8)) as? [String: Any]
                return object?["driver"] as? String
            }.filter { $0 != "file" }
            #expect(formats == ["raw", "raw", "raw"], "\(formats)")
            // 64 vCPUs asked for, capped at the host's.
            #expect(values(of: "-smp", in: arguments).first?.hasPrefix("\(DomainConfiguration.hostCPUs),") == true)

            // The I/O throttle is live in QEMU on every disk.
            for target in ["vda", "vdb", "vdc"] {
                let throttle = try #require(machine.diskThrottle(target: target), "\(target)")
                #expect(throttle.bytesPerSecond == UInt64(DomainConfiguration.DiskThrottle.default.bytesPerSecond))
                #expect(throttle.operationsPerSecond == UInt64(DomainConfiguration.DiskThrottle.default.operationsPerSecond))
            }

            // The memory hard limit: in force through the memory cgroup where libvirt can use
            // cgroups (root, or a daemon); an unprivileged embedded driver cannot.
            let memoryCgroupRoot = "/sys/fs/cgroup/memory"
            if getuid() == 0, FileSystem.isDirectory(memoryCgroupRoot) {
                #expect(machine.memoryHardLimitApplied)
                let cgroups = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
                let memoryLine = try #require(cgroups.split(separator: "\n").first { $0.split(separator: ":").dropFirst().first == "memory" })
                let path = memoryLine.split(separator: ":", maxSplits: 2).last.map(String.init) ?? ""
                // libvirt puts QEMU's threads in child groups; the limit is on the domain's group.
                var group = "\(memoryCgroupRoot)\(path)"
                while !FileSystem.exists("\(group)/memory.limit_in_bytes") || (group.hasSuffix("/emulator")) {
                    group = (group as NSString).deletingLastPathComponent
                }
                let limit = try String(contentsOfFile: "\(group)/memory.limit_in_bytes", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(Int64(limit) == Int64(try #require(configuration.memoryHardLimitMiB)) << 20, "\(group): \(limit)")
            } else {
                #expect(!machine.memoryHardLimitApplied)
            }
        }
    }

    /// The scheduling policy of each thread of process `pid` (field 41 of /proc/PID/task/TID/stat).
    private func threadPolicies(_ pid: Int32) -> [Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap { tid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 38 ? Int(fields[38]) : nil
        }
    }

    @Test func withIdlePriorityEveryQEMUThreadRunsUnderSchedIdle() async throws {
        let image = try requireImage()
        try await withTemporaryDirectory { dir in
            chmod(dir, 0o755)
            let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/forever", "\(dir)/job.tar.xz"])
            #expect(status == 0)
            let hypervisor = try SharedHypervisor.instance.get()
            var policies: [Bool: [Int]] = [:]
            for idle in [true, false] {
                let name = "construir-priority-\(idle)-\(getpid())"
                var configuration = try foreverDomain(name, image: image, in: dir, cpus: 2)
                configuration.idlePriority = idle
                let machine = try await hypervisor.start(configuration)
                defer { machine.destroyNow() }
                let (pid, _) = try #require(qemuProcess(named: name), "no QEMU process for \(name)")
                policies[idle] = threadPolicies(pid)
            }
            let idle = try #require(policies[true])
            #expect(idle.count >= 3, "QEMU's main thread and its vCPU threads: \(idle)")
            #expect(idle.allSatisfy { $0 == IdlePriority.policy }, "\(idle)")
            #expect(try #require(policies[false]).allSatisfy { $0 == 0 }, "SCHED_OTHER without it: \(policies)")
        }
    }

    /// A guest that tries every address of the host: it has no interface but `lo`, every
    /// connection fails, and the host's listener never sees one.
    @Test func theGuestHasNoNetwork() async throws {
        _ = try requireImage()
        let listener = try TCPListener()
        defer { listener.close() }
        let addresses = hostAddresses()
        #expect(addresses.contains("127.0.0.1"))
        #expect(addresses.count >= 2, "expected the host to have an address besides loopback: \(addresses)")
        // The listener does see a connection from the host itself, on every address: what the
        // guest must not manage.
        for address in addresses {
            #expect(connects(to: address, port: listener.port), "\(address)")
        }
        #expect(listener.pendingConnections() == addresses.count)

        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(dir)/probe/job", withIntermediateDirectories: true)
            try addresses.map { "\($0) \(listener.port)" }.joined(separator: "\n")
                .appending("\n").write(toFile: "\(dir)/probe/job/targets", atomically: true, encoding: .utf8)
            try Self.probeScript.write(toFile: "\(dir)/probe/job/construir", atomically: true, encoding: .utf8)
            chmod("\(dir)/probe/job/construir", 0o755)
            let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(dir)/probe", "\(dir)/queue/probe_i0.tar.xz"])
            #expect(status == 0)

            try await makeTestRunner(in: dir, images: Self.imagesDirectory, timeout: .seconds(240)).run()

            let result = try readResult("\(dir)/done/probe")
            #expect(result.status == .passed, "\(result)")
            let output = "\(dir)/done/probe/output"
            let interfaces = try String(contentsOfFile: "\(output)/interfaces", encoding: .utf8)
                .split(separator: "\n").map(String.init)
            #expect(interfaces == ["lo"])
            let lines = try String(contentsOfFile: "\(output)/connections", encoding: .utf8)
                .split(separator: "\n").map(String.init)
            #expect(lines.count == addresses.count, "\(lines)")
            for address in addresses {
                #expect(lines.contains("\(address) \(listener.port) failed"), "\(address): \(lines)")
            }
            #expect(!lines.contains { $0.hasSuffix(" connected") })
            // A completed handshake would wait in the listener's backlog even after the guest closed it.
            #expect(listener.pendingConnections() == 0)
        }
    }

    /// A real guest writes an output with an absolute member name (GNU tar -P) and a symlink
    /// pointing out: the job ends in error naming the entry, and the host path stays untouched.
    @Test func aHostileOutputFromARealGuestIsRefused() async throws {
        _ = try requireImage()
        let target = "/tmp/construir-pwned-\(getpid())"
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(dir)/evil/job", withIntermediateDirectories: true)
            try """
            #!/bin/bash
            set -eu
            echo pwned > \(target)
            ln -s /etc /tmp/etc-link
            tar -P -cJf /dev/sdb \(target) /tmp/etc-link

            """.write(toFile: "\(dir)/evil/job/construir", atomically: true, encoding: .utf8)
            chmod("\(dir)/evil/job/construir", 0o755)
            let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(dir)/evil", "\(dir)/queue/evil_i0.tar.xz"])
            #expect(status == 0)
            let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()

            try await makeTestRunner(in: dir, images: Self.imagesDirectory, timeout: .seconds(240)).run()

            let result = try readResult("\(dir)/done/evil")
            #expect(result.status == .error, "\(result)")
            #expect(result.error?.contains("absolute path") == true, "\(result.error ?? "")")
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/done/evil/output"))
            // The archive is kept for its owner to inspect; nothing new beside queue/ and done/.
            #expect(FileManager.default.fileExists(atPath: "\(dir)/done/evil/output.tar.xz"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == (before + ["done"]).sorted())
        }
    }

    /// Lists interfaces, then tries each "ADDRESS PORT" of `targets` with bash's /dev/tcp.
    static let probeScript = """
    #!/bin/bash
    set -u
    mkdir -p /tmp/out
    ls /sys/class/net > /tmp/out/interfaces
    while read -r address port; do
        [ -n "$address" ] || continue
        if timeout 10 bash -c "exec 3<>/dev/tcp/$address/$port" 2>/dev/null; then
            echo "$address $port connected"
        else
            echo "$address $port failed"
        fi
    done < targets > /tmp/out/connections
    cat /tmp/out/interfaces /tmp/out/connections
    tar -C /tmp/out -cJf /dev/sdb .

    """
}
}

/// Every IPv4 and IPv6 address of the host's interfaces (link-local IPv6 left out: it needs a
/// scope the guest could not name anyway).
func hostAddresses() -> [String] {
    var list: UnsafeMutablePointer<ifaddrs>?
    guard getifaddrs(&list) == 0, let first = list else { return [] }
    defer { freeifaddrs(list) }
    var result: [String] = []
    for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
        guard let address = entry.pointee.ifa_addr else { continue }
        let family = Int32(address.pointee.sa_family)
        guard family == AF_INET || family == AF_INET6 else { continue }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
        guard getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 else { continue }
        let text = host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        if text.hasPrefix("fe80:") || text.contains("%") { continue }
        if !result.contains(text) { result.append(text) }
    }
    return result
}

/// Whether a TCP connection from the host to `address`:`port` completes.
func connects(to address: String, port: UInt16) -> Bool {
    var hints = addrinfo()
    hints.ai_flags = AI_NUMERICHOST
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var info: UnsafeMutablePointer<addrinfo>?
    guard getaddrinfo(address, String(port), &hints, &info) == 0, let info else { return false }
    defer { freeaddrinfo(info) }
    let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { Glibc.close(fd) }
    return connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
}

/// A TCP listener on every address (dual-stack `[::]`), on an ephemeral port, that never accepts
/// on its own: connections that reached it stay in its backlog, where the test counts them.
final class TCPListener {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ConstruirTestError("socket: errno \(errno)") }
        var off: Int32 = 0
        setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_any
        address.sin6_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else { throw ConstruirTestError("bind/listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        self.descriptor = descriptor
        self.port = UInt16(bigEndian: address.sin6_port)
    }

    /// Accepts (and closes) whatever is queued; the count of connections that ever completed.
    func pendingConnections() -> Int {
        var count = 0
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 { break }
            count += 1
            Glibc.close(client)
        }
        return count
    }

    func close() { Glibc.close(descriptor) }
}
