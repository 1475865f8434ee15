import JobModel
import Archive
import ConstruirSystem
import Foundation
import Synchronization
import VMHost
import XZ
@testable import Runner

/// What a fake guest does once "booted". It acts on the disks the runner gave its domain, as
/// the real guest agent does: the runner's side (disks, timers, collection, scheduling) is real.
enum FakeGuest: Sendable {
    /// Writes `files` as its output archive and a finished status with `exitCode`, then powers off.
    case finishes(exitCode: Int, files: [String: String] = [:], after: Duration = .milliseconds(50))
    /// Never stops by itself.
    case hangs
    /// Stops without writing a status (QEMU died, the guest crashed).
    case crashes(after: Duration = .milliseconds(50))
    /// Prints `bytes` to its console, then hangs.
    case floodsConsole(bytes: Int)
    /// Needs `work` of running (not suspended) time, then finishes as `.finishes` does.
    case computes(work: Duration, exitCode: Int = 0)
}

/// A `VirtualMachineManager` whose guests are played by `FakeGuest`s, chosen per domain.
final class FakeHypervisor: VirtualMachineManager {
    let isEmbedded = true
    private let guest: @Sendable (DomainConfiguration) -> FakeGuest
    private let state = Mutex(State())

    struct State {
        var started: [String] = []
        var startedConfigurations: [DomainConfiguration] = []
        var running: Set<String> = []
        var mostRunning = 0
        var leftoversDestroyed: [String] = []
        var destroyed: [String] = []
        var suspended: [FakeMachine] = []
        var resized: [(domain: String, target: String, bytes: Int64)] = []
    }

    init(guest: @escaping @Sendable (DomainConfiguration) -> FakeGuest) {
        self.guest = guest
    }

    /// Domains started, in order.
    var started: [String] { state.withLock { $0.started } }
    var startedConfigurations: [DomainConfiguration] { state.withLock { $0.startedConfigurations } }
    /// The most domains that ran at once.
    var mostRunning: Int { state.withLock { $0.mostRunning } }
    var running: Set<String> { state.withLock { $0.running } }
    var leftoversDestroyed: [String] { state.withLock { $0.leftoversDestroyed } }
    /// Domains the runner destroyed (rather than let end by themselves), in order.
    var destroyed: [String] { state.withLock { $0.destroyed } }

    func start(_ configuration: DomainConfiguration) async throws -> FakeMachine {
        // QEMU opens its console log at start, as libvirt's file serial port does.
        if !FileManager.default.fileExists(atPath: configuration.consoleLog) {
            _ = FileManager.default.createFile(atPath: configuration.consoleLog, contents: nil)
        }
        state.withLock { state in
            state.started.append(configuration.name)
            state.startedConfigurations.append(configuration)
            state.running.insert(configuration.name)
            state.mostRunning = max(state.mostRunning, state.running.count)
        }
        return FakeMachine(configuration: configuration, guest: guest(configuration), hypervisor: self)
    }

    func destroyLeftover(name: String) async {
        state.withLock { $0.leftoversDestroyed.append(name) }
    }

    func runningDomainNames() async -> [String] { Array(running) }

    /// The machines the runner suspended at least once.
    var suspendedMachines: [FakeMachine] { state.withLock { $0.suspended } }

    fileprivate func machineSuspended(_ machine: FakeMachine) {
        state.withLock { state in
            if !state.suspended.contains(where: { $0 === machine }) { state.suspended.append(machine) }
        }
    }

    /// The disks the runner resized, in order.
    var resized: [(domain: String, target: String, bytes: Int64)] { state.withLock { $0.resized } }

    fileprivate func noteResize(domain: String, target: String, bytes: Int64) {
        state.withLock { $0.resized.append((domain, target, bytes)) }
    }

    fileprivate func ended(_ name: String, destroyed: Bool) {
        state.withLock { state in
            if destroyed { state.destroyed.append(name) }
            state.running.remove(name)
        }
    }
}

/// One fake VM: its guest runs while the runner waits for it to stop.
final class FakeMachine: JobMachine {
    let configuration: DomainConfiguration
    let guest: FakeGuest
    private let hypervisor: FakeHypervisor
    var name: String { configuration.name }
    private let suspendedState = Mutex((now: false, times: 0))
    /// Whether the runner has the VM suspended now.
    var isSuspended: Bool { suspendedState.withLock { $0.now } }
    /// How many times the runner suspended it.
    var suspensions: Int { suspendedState.withLock { $0.times } }

    init(configuration: DomainConfiguration, guest: FakeGuest, hypervisor: FakeHypervisor) {
        self.configuration = configuration
        self.guest = guest
        self.hypervisor = hypervisor
    }

    func stopped() async -> StopReason? {
        switch guest {
        case .finishes(let exitCode, let files, let after):
            guard await Self.sleep(after) else { return nil }
            do {
                try writeOutput(files)
                try writeStatus("construir-status=1\nstate=finished\nexit_code=\(exitCode)\n")
            } catch {
                return .stopped(detail: "fake guest failed: \(error)")
            }
            return .guestPoweredOff
        case .hangs:
            _ = await Self.sleep(.seconds(3600))
            return nil
        case .crashes(let after):
            guard await Self.sleep(after) else { return nil }
            return .stopped(detail: "crashed")
        case .computes(let work, let exitCode):
            // Counts the wall time it ran unsuspended, so a loaded machine's late wake-ups are no
            // lost work.
            var done = Duration.zero
            var last = ContinuousClock.now
            while done < work {
                guard await Self.sleep(.milliseconds(10)) else { return nil }
                let now = ContinuousClock.now
                if !isSuspended { done += now - last }
                last = now
            }
            do {
                try writeOutput([:])
                try writeStatus("construir-status=1\nstate=finished\nexit_code=\(exitCode)\n")
            } catch {
                return .stopped(detail: "fake guest failed: \(error)")
            }
            return .guestPoweredOff
        case .floodsConsole(let bytes):
            _ = FileManager.default.createFile(atPath: configuration.consoleLog, contents: Data(repeating: UInt8(ascii: "x"), count: bytes))
            _ = await Self.sleep(.seconds(3600))
            return nil
        }
    }

    func destroy() async {
        hypervisor.ended(name, destroyed: true)
    }

    /// Its QEMU ends by itself once the guest stopped.
    func ended() async -> Bool {
        hypervisor.ended(name, destroyed: false)
        return true
    }

    func suspend() async throws {
        suspendedState.withLock { state in
            state.now = true
            state.times += 1
        }
        hypervisor.machineSuspended(self)
    }

    func resume() async throws {
        suspendedState.withLock { $0.now = false }
    }

    func resizeDisk(target: String, bytes: Int64) async throws {
        hypervisor.noteResize(domain: name, target: target, bytes: bytes)
    }

    func isRunning() async -> Bool { hypervisor.running.contains(name) }

    /// False when cancelled first.
    private static func sleep(_ duration: Duration) async -> Bool {
        (try? await Task.sleep(for: duration)) != nil
    }

    private func disk(_ serial: String) throws -> String {
        guard let disk = configuration.disks.first(where: { $0.serial == serial }) else {
            throw ConstruirError(.notFound, "the domain has no \(serial) disk")
        }
        return disk.path
    }

    private func writeOutput(_ files: [String: String]) throws {
        let writer = try JobImageWriter(path: try disk("construir-output"), xz: XZWriter.Options(preset: 0))
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            try writer.appendFile(path: Array(path.utf8), contents: Array(text.utf8), mode: 0o644, modificationTime: 0)
        }
        try writer.finish()
    }

    private func writeStatus(_ text: String) throws {
        guard let handle = FileHandle(forWritingAtPath: try disk("construir-status")) else {
            throw ConstruirError(.notFound, "cannot open the status disk")
        }
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(text.utf8))
    }
}
