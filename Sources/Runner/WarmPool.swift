import ConstruirSystem
import Foundation
import JobModel
import Logging
import Synchronization
import VMHost

/// The VMs booted ahead of their jobs (`run --warm N`), so that a job waits only for its
/// hand-over instead of a boot.
///
/// Each warm VM serves one job and is destroyed after it, as every VM is. One that waited
/// longer than `WarmPolicy.maxAge`, whose image changed, or that stopped by itself, is replaced.
/// Warm VMs use only what running jobs leave of `WarmPolicy.maxMachines`; a job that needs
/// another image or more memory makes room (`makeRoom`) and boots cold. While the runner holds
/// back (paused, stopping) it keeps none. Their files live in `directory`, one folder each.
package final class WarmPool: Sendable {
    package let policy: WarmPolicy
    package let directory: String
    let images: ImageStore
    let hypervisor: any VirtualMachineManager
    let options: RunnerOptions
    let digests: ImageDigestCache
    let logger: Logger
    /// Where the pool shows its VMs (`RunnerWarmVMs`), and for which runner; nil: nowhere.
    let record: (path: String, runner: String)?
    private let state = Mutex(State())
    private let changes = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    struct State {
        var waiting: [Entry] = []
        /// Images being booted now.
        var booting: [Int] = []
        /// Jobs running (claimed and not yet finished).
        var busy = 0
        /// Warm VMs taken out to make room, for the maintenance loop to destroy.
        var evicted: [WarmMachine] = []
        var holdingBack = false
        /// Image → when booting it last failed (not tried again for `retryDelay`).
        var failedAt: [Int: ContinuousClock.Instant] = [:]
        /// What the record file says now.
        var recorded: [RunnerWarmVMs.VM] = []
    }

    struct Entry {
        var machine: WarmMachine
        var ready = false
    }

    static let retryDelay = Duration.seconds(30)
    static let tick = Duration.milliseconds(500)
    static let settledTick = Duration.seconds(5)

    package init(policy: WarmPolicy, directory: String, images: ImageStore, hypervisor: any VirtualMachineManager,
                options: RunnerOptions, digests: ImageDigestCache, logger: Logger, record: (path: String, runner: String)? = nil) {
        self.policy = policy
        self.directory = directory
        self.images = images
        self.hypervisor = hypervisor
        self.options = options
        self.digests = digests
        self.logger = logger
        self.record = record
    }

    /// The warm VMs now, oldest first, as the record file shows them.
    package var snapshot: [RunnerWarmVMs.VM] {
        state.withLock { Self.records(of: $0.waiting) }
    }

    private static func records(of waiting: [Entry]) -> [RunnerWarmVMs.VM] {
        waiting.map {
            RunnerWarmVMs.VM(domain: $0.machine.name, image: $0.machine.image, state: $0.ready ? .ready : .booting,
                             booted: $0.machine.bootedAt, memoryMiB: $0.machine.memoryMiB, cpus: $0.machine.cpus)
        }
    }

    /// Takes the warm VM a job of `image` with that digest, memory and CPUs can run on (a ready
    /// one first), or nil: the job then boots cold.
    package func take(image: Int, digest: String, memoryMiB: Int, cpus: Int) -> WarmMachine? {
        let taken = state.withLock { state -> WarmMachine? in
            let fits = state.waiting.indices.filter { index in
                let machine = state.waiting[index].machine
                return machine.image == image && machine.imageDigest == digest && machine.memoryMiB >= memoryMiB && machine.cpus >= cpus
            }
            guard let index = fits.first(where: { state.waiting[$0].ready }) ?? fits.first else { return nil }
            return state.waiting.remove(at: index).machine
        }
        if taken != nil { changes.continuation.yield() }
        return taken
    }

    /// Called when a job that runs cold starts: warm VMs beyond what running jobs leave of the
    /// budget are taken out, oldest first, and destroyed by the maintenance loop.
    package func makeRoom() {
        let evicted = state.withLock { state -> Int in
            var count = 0
            while state.busy + state.waiting.count + state.booting.count > policy.maxMachines, !state.waiting.isEmpty {
                state.evicted.append(state.waiting.removeFirst().machine)
                count += 1
            }
            return count
        }
        if evicted > 0 { changes.continuation.yield() }
    }

    /// A job was claimed; `jobFinished` when it is delivered or given back.
    package func jobStarted() { state.withLock { $0.busy += 1 } }

    package func jobFinished() {
        state.withLock { $0.busy -= 1 }
        changes.continuation.yield()
    }

    /// Keeps no warm VM while `holdBack` (the runner is paused or stopping).
    package func holdBack(_ holdBack: Bool) {
        let changed = state.withLock { state in
            defer { state.holdingBack = holdBack }
            return state.holdingBack != holdBack
        }
        if changed { changes.continuation.yield() }
    }

    /// Boots, checks and replaces warm VMs until cancelled; then destroys those left. Domains
    /// and files a previous life of this runner left behind are removed first.
    package func run() async {
        await clearLeftovers()
        await withDiscardingTaskGroup { group in
            group.addTask { [changes] in
                while !Task.isCancelled {
                    // Often while a VM boots (to see it ready), rarely once all wait: an idle
                    // runner stays cheap, and a stale VM is still noticed within seconds.
                    let settled = self.state.withLock { state in state.booting.isEmpty && state.waiting.allSatisfy(\.ready) }
                    try? await Task.sleep(for: settled ? Self.settledTick : Self.tick)
                    changes.continuation.yield()
                }
            }
            for await _ in changes.stream {
                if Task.isCancelled { break }
                await maintain()
                await writeRecord()
            }
            group.cancelAll()
        }
        let left = state.withLock { state in
            defer { state.waiting = []; state.evicted = [] }
            return state.waiting.map(\.machine) + state.evicted
        }
        for machine in left { await retire(machine, because: "the runner stops") }
        await writeRecord()
    }

    /// Shows the warm VMs in the record file, when they changed; removes it when there are none.
    private func writeRecord() async {
        guard let record else { return }
        let vms = state.withLock { state -> [RunnerWarmVMs.VM]? in
            let vms = Self.records(of: state.waiting)
            guard vms != state.recorded else { return nil }
            state.recorded = vms
            return vms
        }
        guard let vms else { return }
        do {
            try await OwnThread.run("construir-warm-record") {
                if vms.isEmpty {
                    unlink(record.path)
                } else {
                    try RunnerWarmVMs(runner: record.runner, vms: vms).encoded().write(to: URL(fileURLWithPath: record.path), options: .atomic)
                }
            }
        } catch {
            logger.warning("cannot write \(record.path): \(error)")
        }
    }

    /// One round: destroy what was evicted or went stale, note which are ready, boot what is missing.
    func maintain() async {
        let evicted = state.withLock { state in
            defer { state.evicted = [] }
            return state.evicted
        }
        for machine in evicted { await retire(machine, because: "its memory went to a job that runs cold") }

        let waiting = state.withLock { $0.waiting.map(\.machine) }
        let looks = waiting.isEmpty ? [] : (try? await OwnThread.run("construir-warm-check") { () -> [(digest: String?, guest: GuestStatus.State?)] in
            // Each image's digest once a round, however many of its VMs wait.
            var current: [Int: String?] = [:]
            return waiting.map { machine in
                let digest = current[machine.image] ?? {
                    let digest = try? self.digests.digest(of: self.images.image(machine.image))
                    current[machine.image] = digest
                    return digest
                }()
                return (digest, machine.guestState())
            }
        })
        var verdicts: [Verdict] = waiting.map { _ in .booting }
        for (index, look) in (looks ?? []).enumerated() {
            verdicts[index] = await verdict(on: waiting[index], imageDigest: look.digest, guest: look.guest)
        }
        var stale: [(WarmMachine, String)] = []
        state.withLock { state in
            for (machine, verdict) in zip(waiting, verdicts) {
                guard let index = state.waiting.firstIndex(where: { $0.machine.name == machine.name }) else { continue }
                switch verdict {
                case .ready: state.waiting[index].ready = true
                case .booting: break
                case .stale(let reason):
                    state.waiting.remove(at: index)
                    stale.append((machine, reason))
                }
            }
        }
        for (machine, reason) in stale { await retire(machine, because: reason) }

        if state.withLock({ $0.holdingBack }) {
            let all = state.withLock { state in
                defer { state.waiting = [] }
                return state.waiting.map(\.machine)
            }
            for machine in all { await retire(machine, because: "the runner holds back") }
            return
        }
        // The images are listed only when the budget has room for another VM.
        guard state.withLock({ $0.busy + $0.waiting.count + $0.booting.count < policy.maxMachines }) else { return }
        let wanted = await warmImages()
        while !Task.isCancelled, let index = nextImageToBoot(among: wanted) {
            await boot(index)
        }
    }

    enum Verdict { case ready, booting, stale(String) }

    /// `imageDigest` is the image's digest now, nil when it cannot be had (a rebuild under way,
    /// a broken image); `guest` what its status disk says.
    private func verdict(on machine: WarmMachine, imageDigest: String?, guest: GuestStatus.State?) async -> Verdict {
        if ContinuousClock.now - machine.booted >= policy.maxAge {
            return .stale("it waited longer than --warm-max-age \(Units.format(policy.maxAge))")
        }
        guard imageDigest == machine.imageDigest else { return .stale("build image \(machine.image) changed since it booted") }
        guard await machine.machine.isRunning() else { return .stale("it stopped while waiting") }
        switch guest {
        case .waiting?: return .ready
        case nil, .running?: return .booting
        case .finished?, .error?: return .stale("its agent gave up before a job came")
        }
    }

    /// The image of `wanted` that lacks warm VMs most, when the budget has room for one more; nil if none.
    private func nextImageToBoot(among wanted: [Int]) -> Int? {
        state.withLock { state -> Int? in
            guard !state.holdingBack, state.busy + state.waiting.count + state.booting.count < policy.maxMachines else { return nil }
            let now = ContinuousClock.now
            let candidates = wanted.filter { index in
                let have = state.waiting.count(where: { $0.machine.image == index }) + state.booting.count(where: { $0 == index })
                let backingOff = state.failedAt[index].map { now - $0 < Self.retryDelay } ?? false
                return have < policy.perImage && !backingOff
            }
            guard let index = candidates.min(by: { a, b in
                state.waiting.count(where: { $0.machine.image == a }) < state.waiting.count(where: { $0.machine.image == b })
            }) else { return nil }
            state.booting.append(index)
            return index
        }
    }

    /// The images to keep warm: those the policy names, else every installed one whose agent
    /// waits for a hand-over (older images boot cold).
    private func warmImages() async -> [Int] {
        let images = self.images
        let named = policy.images
        return (try? await OwnThread.run("construir-warm-images") {
            (named ?? images.availableIndexes()).filter { index in
                ((try? images.image(index))?.manifest.protocol ?? 0) >= BuildImage.warmProtocol
            }
        }) ?? []
    }

    private func boot(_ index: Int) async {
        let name = "\(JobDomain.prefix)warm-\(Self.lifeTag)-\(Self.sequence.wrappingAdd(1, ordering: .relaxed).newValue)"
        let directory = "\(self.directory)/\(name)"
        let (images, digests, options, hypervisor) = (self.images, self.digests, self.options, self.hypervisor)
        do {
            let (image, digest) = try await OwnThread.run("construir-warm-image") { () throws -> (BuildImage, String) in
                let image = try images.image(index)
                let digest = try digests.digest(of: image)
                guard image.manifest.protocol >= BuildImage.warmProtocol else {
                    throw ConstruirError(.invalidArgument, "build image \(index) speaks guest protocol \(image.manifest.protocol); warm VMs need \(BuildImage.warmProtocol) (rebuild it)")
                }
                return (image, digest)
            }
            let machine: WarmMachine
            do {
                machine = try await WarmMachine.boot(name: name, image: image, digest: digest, directory: directory,
                                                     options: options, hypervisor: hypervisor)
            } catch {
                try? await OwnThread.run("construir-warm-clean") { Self.remove(directory) }
                throw error
            }
            state.withLock { state in
                state.booting.removeFirst(index)
                state.waiting.append(Entry(machine: machine))
            }
            logger.info("warm VM booting", metadata: ["domain": "\(name)", "image": "\(index)"])
        } catch {
            state.withLock { state in
                state.booting.removeFirst(index)
                state.failedAt[index] = .now
            }
            logger.warning("cannot boot a warm VM of image \(index) (tried again in \(Units.format(Self.retryDelay))): \(error)")
        }
    }

    /// Destroys a warm VM that will get no job, and removes its files.
    func retire(_ machine: WarmMachine, because reason: String) async {
        logger.info("warm VM retired", metadata: ["domain": "\(machine.name)", "why": "\(reason)"])
        await machine.machine.destroy()
        _ = try? await OwnThread.run("construir-warm-clean") { Self.remove(machine.directory) }
    }

    static func remove(_ directory: String) {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Kills the QEMU of warm VMs a previous life of this runner left (after a SIGKILL, they
    /// have no runner), and removes their files.
    private func clearLeftovers() async {
        let directory = self.directory
        let prefix = "\(JobDomain.prefix)warm-"
        let killed = (try? await OwnThread.run("construir-warm-clear") { () throws -> [String] in
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            let names = Set(leftovers.filter { $0.hasPrefix(prefix) })
            let killed = names.isEmpty ? [] : StaleProcesses.kill(domains: names)
            for name in leftovers { Self.remove("\(directory)/\(name)") }
            try PrivateDirectory.makeInside(directory)
            return killed
        }) ?? []
        for name in killed {
            logger.notice("killed a warm VM left by a runner that died", metadata: ["domain": "\(name)"])
        }
    }

    /// Numbers the warm domains of every pool in this process.
    private static let sequence = Atomic<Int>(0)

    /// Distinguishes this process's warm domains from a previous life's.
    static let lifeTag = String(UInt32(truncatingIfNeeded: getpid()) ^ UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970)), radix: 36)
}

private extension Array where Element == Int {
    mutating func removeFirst(_ value: Int) {
        if let index = firstIndex(of: value) { remove(at: index) }
    }
}
