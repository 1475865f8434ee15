import Foundation
import JobModel
import Logging
import Testing
import Runner
import VMHost

/// The one embedded libvirt driver of the test process: libvirt's embedded QEMU driver may be
/// opened only once per process, so every integration suite uses this connection.
enum SharedHypervisor {
    static let instance: Result<Hypervisor, any Error> = Result {
        let root = "/tmp/construir-it-\(getpid())"
        return try Hypervisor(uri: Hypervisor.embeddedURI(root: root), logger: Logger(label: "test"))
    }
}

/// The parent of every suite that boots VMs: `.serialized` is recursive, so the suites nested in
/// it (`extension VMSuites { @Suite struct ... }`) never run at the same time. Their VMs then do
/// not compete for the CPUs, and a test that checks that no domain is left running sees only its
/// own. Tagged `vm`; each test is limited in time, so a hung VM ends that test rather than the
/// run; skipped with a reason when image 0 is not built (`scripts/test` builds it and sets
/// CONSTRUIR_REQUIRE_IMAGES=1, so there a missing image fails instead).
@Suite(.serialized, .tags(.vm), .timeLimit(.minutes(10)),
       .enabled(if: BuiltImages.available(0), "build image 0 is not built: construir image build 0 (scripts/test builds it)"))
enum VMSuites {}

extension Tag {
    /// Tests that boot real VMs (QEMU through libvirt) from the built images.
    @Tag static var vm: Self
}

/// Which build images the integration tests can boot.
enum BuiltImages {
    /// Whether image `index` is built, or the run requires the images (CONSTRUIR_REQUIRE_IMAGES=1,
    /// set by scripts/test): a test then fails on a missing image rather than being skipped.
    static func available(_ index: Int) -> Bool {
        ProcessInfo.processInfo.environment["CONSTRUIR_REQUIRE_IMAGES"] == "1"
            || FileManager.default.fileExists(atPath: "\(VMSuites.RunnerIntegrationTests.repository)/images/\(index)/image.json")
    }
}

/// A runner over `DIR/queue` → `DIR/done` on the shared hypervisor, as `construir run` builds it.
func makeTestRunner(in dir: String, images: String, timeout: Duration, memoryMiB: Int = 512,
                    exitWhenIdle: Bool = true, warm: WarmPolicy? = nil,
                    configure: (inout RunnerOptions, inout RunnerConfiguration) -> Void = { _, _ in },
                    onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) throws -> Runner<QueueDirectorySource> {
    let logger = Logger(label: "construir-test")
    var options = RunnerOptions(timeout: timeout, memoryMiB: memoryMiB, cpus: 1,
                                acceleration: Acceleration.auto.resolved().0)
    var configuration = RunnerConfiguration(slots: 1, gracePeriod: .zero, exitWhenIdle: exitWhenIdle)
    configure(&options, &configuration)
    let state = "\(dir)/queue/.construir"
    let identity = try RunnerIdentity.acquire(stateDirectory: state)
    let hypervisor = try SharedHypervisor.instance.get()
    let pool = warm.map {
        WarmPool(policy: $0, directory: "\(state)/warm/\(identity.id)", images: ImageStore(root: images), hypervisor: hypervisor,
                 options: options, digests: ImageDigestCache(), logger: logger,
                 record: ("\(identity.directory)/\(RunnerWarmVMs.fileName(runner: identity.id))", identity.id))
    }
    let executor = JobExecutor(images: ImageStore(root: images), hypervisor: hypervisor,
                               options: options, logger: logger, warm: pool)
    let source = QueueDirectorySource(queue: try JobQueue(queueDirectory: "\(dir)/queue", stateDirectory: state),
                                      done: try DoneStore(directory: "\(dir)/done"), identity: identity, logger: logger)
    return Runner(source: source, executor: executor, identity: identity,
                  configuration: configuration, logger: logger, onPublished: onPublished)
}

/// Stops a test that boots VMs when build image 0 has not been built (`construir image build 0`).
func requireImage0() throws {
    let images = "\(VMSuites.RunnerIntegrationTests.repository)/images"
    guard FileManager.default.fileExists(atPath: "\(images)/0/image.json") else {
        throw ConstruirTestError("build image 0 is missing: run `construir image build 0` (scripts/test does)")
    }
}

/// Reads `DIR/result.json`.
func readResult(_ directory: String) throws -> JobResult {
    try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(directory)/result.json")))
}
