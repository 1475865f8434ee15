import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Logging

/// The build images a hub serves (`hub serve --images DIR`), so that every runner can run the
/// hub's jobs on the same bytes: runners fetch them (`image pull`), and a claim hands a runner a
/// job for image N only when its image N has the hub's digest.
///
/// Checked once, when the hub starts: an image whose files do not match its image.json is not
/// served (and logged). What is listed is what was checked; a file changed on disk later is
/// served as it is, and the runner's check of the sha256 refuses it.
package struct HubImages: Sendable {
    struct Served: Sendable {
        var image: HubImage
        var directory: String
    }

    /// The images directory; nil when the hub serves no images.
    package let directory: String?
    private let served: [Int: Served]

    /// No images: no image route answers but with 404, and claims are not filtered.
    package static let none = HubImages(directory: nil, served: [:])

    private init(directory: String?, served: [Int: Served]) {
        self.directory = directory
        self.served = served
    }

    /// Reads and checks every image in `directory` on a thread of its own (hashing hundreds of
    /// megabytes must hold neither the cooperative pool nor the file-work pool).
    package static func load(directory: String, logger: Logger) async throws -> HubImages {
        guard FileSystem.isDirectory(directory) else {
            throw ConstruirError(.notFound, "the images directory \(directory) does not exist")
        }
        let (served, refusals) = try await OwnThread.run("construir-images") { check(directory: directory) }
        for refusal in refusals { logger.warning("not serving a build image: \(refusal)") }
        for entry in served.values.sorted(by: { $0.image.index < $1.image.index }) {
            logger.info("serving build image", metadata: ["image": "\(entry.image.index)", "digest": "\(entry.image.digest)"])
        }
        return HubImages(directory: directory, served: served)
    }

    /// The images of `directory` that verify, and why each other one does not.
    static func check(directory: String) -> ([Int: Served], [String]) {
        let store = ImageStore(root: directory)
        var served: [Int: Served] = [:]
        var refusals: [String] = []
        for index in store.availableIndexes() {
            do {
                let image = try store.image(index)
                guard image.manifest.index == index else {
                    refusals.append("image \(index): its image.json says it is image \(image.manifest.index)")
                    continue
                }
                if let unsafe = image.verifiedFiles.first(where: { !isServableName($0) }) {
                    refusals.append("image \(index): image.json lists a file that is not a plain name: \(unsafe)")
                    continue
                }
                let verification = image.verify()
                guard verification.isValid, let digest = verification.digest else {
                    refusals.append("image \(index) does not match its image.json: \(verification.problems.joined(separator: "; "))")
                    continue
                }
                let files = verification.files.map { HubImage.File(name: $0.name, sha256: $0.actual ?? "", size: $0.size ?? 0) }
                served[index] = Served(image: HubImage(index: index, digest: digest, files: files), directory: image.directory)
            } catch {
                refusals.append("image \(index): \(error)")
            }
        }
        return (served, refusals)
    }

    /// A name the hub would serve as an image file: one path component, not hidden, nothing a
    /// shell or a URL would read differently.
    static func isServableName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && SafeName.isSafe(name)
    }

    package var isServing: Bool { directory != nil }

    package var list: [HubImage] { served.values.map(\.image).sorted { $0.index < $1.index } }

    /// The hub's digest of image `index`, nil when it does not serve it.
    package func digest(ofImage index: Int) -> String? { served[index]?.image.digest }

    /// Image `index`'s image.json, nil when it is not served.
    func manifestPath(_ index: Int) -> String? {
        served[index].map { "\($0.directory)/\(BuildImage.manifestName)" }
    }

    /// The path of file `name` of image `index`, nil unless image.json lists it.
    func filePath(_ index: Int, _ name: String) -> String? {
        guard Self.isServableName(name), let entry = served[index], entry.image.files.contains(where: { $0.name == name }) else {
            return nil
        }
        return "\(entry.directory)/\(name)"
    }

    /// Whether a runner that sent `request` may get a job: when the hub serves the job's image,
    /// only if the runner's image has the same digest.
    package func accepts(_ job: JobName, from request: HubClaimRequest) -> Bool {
        let index = job.image(default: request.defaultImageIndex)
        guard let digest = digest(ofImage: index) else { return true }
        return request.digest(ofImage: index) == digest
    }
}
