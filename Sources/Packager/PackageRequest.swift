import JobModel

/// What `construir package` should make.
package struct PackageRequest: Sendable, Equatable {
    /// Where the job files go.
    package enum Destination: Sendable, Equatable {
        /// Into this directory (a queue, or the current directory), named `REPO_SHORTREV_iN.tar.xz`.
        case directory(String)
        /// Exactly this file (one image only).
        case file(String)
    }

    /// The repository: a work tree (or any directory in one), or a bare repository.
    package var repository: String
    /// The commit to package (anything `git rev-parse` understands).
    package var revision: String
    /// Build images to make a job for; one file per image, identical bytes.
    package var images: [Int]
    /// Where build images live (`N/image.json`), to check the indices against.
    package var imagesDirectory: String
    /// The job file's size (the runner gives the job's output disk this size); nil for
    /// the archive's size, at least `JobPackager.minimumFileSize`. Rounded up to 512 bytes.
    package var outputSize: Int64?
    package var destination: Destination
    /// Extra variables for the guest (`-e KEY=VALUE`); they may override the built-in ones.
    package var environment: [EnvironmentVariable]
    /// Values of the parameters the repository's construir.yml declares (`-p NAME=VALUE`),
    /// checked against them (`JobParameter.resolve`); each becomes a variable.
    package var parameters: [EnvironmentVariable] = []
    /// Tags a runner must have to run the job (`--tag`), added to the repository's `tags:`.
    package var tags: [String] = []
    /// Include submodules' files (from their git directories) instead of skipping them.
    package var recurseSubmodules: Bool
    /// xz encoder threads, 0 for one per CPU. The output does not depend on it.
    package var threads: Int
    /// Pins the job to the build image with this digest (`image_digest` in `job/construir.yml`):
    /// a runner whose image has other bytes rejects the job. Needs exactly one image.
    package var imageDigest: String?
    /// Package the working tree (uncommitted changes and untracked files that are not ignored)
    /// on top of HEAD instead of `revision`, which must then be `HEAD` (`WorkingTreeSnapshot`).
    package var workingTree: Bool

    package init(repository: String = ".", revision: String = "HEAD", images: [Int] = [0], imagesDirectory: String = "images",
                outputSize: Int64? = nil, destination: Destination = .directory("."), environment: [EnvironmentVariable] = [],
                parameters: [EnvironmentVariable] = [], tags: [String] = [], recurseSubmodules: Bool = false, threads: Int = 0, imageDigest: String? = nil, workingTree: Bool = false) {
        self.repository = repository
        self.revision = revision
        self.images = images
        self.imagesDirectory = imagesDirectory
        self.outputSize = outputSize
        self.destination = destination
        self.environment = environment
        self.parameters = parameters
        self.tags = tags
        self.recurseSubmodules = recurseSubmodules
        self.threads = threads
        self.imageDigest = imageDigest
        self.workingTree = workingTree
    }
}
