import Archive
import JobModel

/// What inspecting a job decided before anything boots: its manifest, limits, build image and
/// stages, and the scripts its config and stages disks carry.
struct JobPlan: Sendable {
    let manifest: JobManifest?
    let limits: EffectiveLimits
    let image: BuildImage
    let digest: String
    /// The markers' nonce of a stages job (nil: a script job).
    let stageNonce: String?
    /// The config disk's bytes: the job's environment as a script (nil: no environment).
    let environmentScript: [UInt8]?
    /// The stages disk's bytes: the script `StageDriver` writes for the stages (nil: none).
    let stageScript: [UInt8]?
    /// The values of the secrets the job asks for, by name (empty: none).
    let secrets: [(name: String, value: String)]
    /// The secrets disk's bytes: `export` lines for the agent to add to the environment (nil: none).
    let secretsScript: [UInt8]?

    init(manifest: JobManifest?, limits: EffectiveLimits, image: BuildImage, digest: String, stageNonce: String?,
         secrets runnerSecrets: RunnerSecrets? = nil) {
        self.manifest = manifest
        self.limits = limits
        self.image = image
        self.digest = digest
        self.stageNonce = stageNonce
        let environment = manifest?.environment ?? []
        environmentScript = environment.isEmpty ? nil : JobDisks.scriptBytes(manifest?.environmentScript ?? "")
        let stages = manifest?.stages ?? []
        stageScript = stageNonce.map { JobDisks.scriptBytes(StageDriver.script(stages: stages, nonce: $0)) }
        let names = manifest?.secrets ?? []
        secrets = runnerSecrets?.pairs(names) ?? []
        secretsScript = secrets.isEmpty ? nil : JobDisks.scriptBytes(runnerSecrets?.script(names) ?? "")
    }

    /// Why the job cannot run with `runnerSecrets` on `image`, or nil: a runner lacking a value
    /// the job asks for, or an agent that cannot take them, ends it before anything boots.
    static func secretsProblem(_ manifest: JobManifest?, _ runnerSecrets: RunnerSecrets?, image: BuildImage) -> String? {
        let names = manifest?.secrets ?? []
        guard !names.isEmpty else { return nil }
        let missing = runnerSecrets?.missing(names) ?? names
        if !missing.isEmpty {
            return "the job asks for secrets this runner does not have: \(missing.joined(separator: ", ")) "
                + "(secrets: in \(JobImageInspector.manifestPath); a runner gives them with run --secrets FILE)"
        }
        guard image.manifest.protocol >= JobDomain.secretsProtocol else {
            return "the job asks for secrets, and build image \(image.index)'s guest agent (protocol \(image.manifest.protocol)) "
                + "cannot take them: rebuild it (construir image build \(image.index))"
        }
        return nil
    }

    var stages: [JobStage] { manifest?.stages ?? [] }
    var environment: [(String, String)] { manifest?.environment ?? [] }

    /// Why a job pinned to the image digest `pinned` must not run on image `index` whose digest
    /// is `actual`, or nil when they agree. Both digests are named so that the job's author can
    /// compare them with `construir image list --packages` on each machine.
    static func imageMismatch(pinned: String, actual: String, index: Int) -> String? {
        guard pinned != actual else { return nil }
        return "build image \(index) has another digest than the job was made for: the job expects \(pinned) "
            + "(image_digest in \(JobImageInspector.manifestPath)), this runner's image \(index) is \(actual) "
            + "(`construir image list --packages` shows what an image holds)"
    }
}
