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

    init(manifest: JobManifest?, limits: EffectiveLimits, image: BuildImage, digest: String, stageNonce: String?) {
        self.manifest = manifest
        self.limits = limits
        self.image = image
        self.digest = digest
        self.stageNonce = stageNonce
        let environment = manifest?.environment ?? []
        environmentScript = environment.isEmpty ? nil : JobDisks.scriptBytes(manifest?.environmentScript ?? "")
        let stages = manifest?.stages ?? []
        stageScript = stageNonce.map { JobDisks.scriptBytes(StageDriver.script(stages: stages, nonce: $0)) }
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
