/// How many VMs the runner boots ahead of their jobs (`run --warm N`).
package struct WarmPolicy: Sendable, Equatable {
    /// Warm VMs kept per build image.
    package var perImage: Int
    /// A warm VM that waited this long is replaced by a fresh one.
    package var maxAge: Duration
    /// The most VMs at once, running jobs and warm ones together: the memory the slot policy
    /// allows (`RunnerSetup.machineBudget`). A warm VM never takes a job's slot; it only uses
    /// memory no running job needs.
    package var maxMachines: Int
    /// The build images kept warm; nil: every installed image whose agent can wait for a job.
    package var images: [Int]?
    /// A larger job file boots cold: the hand-over copies the job onto the warm VM's disk, and
    /// on a file system without reflinks 256 MiB take about as long (0.1–0.3 s) as what a warm
    /// VM saves under KVM.
    package var maxCopyBytes: Int64 = 256 << 20

    package init(perImage: Int, maxAge: Duration = .seconds(3600), maxMachines: Int, images: [Int]? = nil) {
        self.perImage = perImage
        self.maxAge = maxAge
        self.maxMachines = maxMachines
        self.images = images
    }
}
