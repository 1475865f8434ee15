import ConstruirSystem
import Foundation
import Glibc
import HubAPI
import JobModel

/// Puts a build image fetched from a hub into `IMAGES/N` in one step, or leaves `IMAGES/N`
/// exactly as it was.
///
/// The files arrive in a private temporary directory beside the images (`IMAGES/.pull-N-XXXXXX`,
/// mode 0700, same filesystem so the last step is a rename), each hashed while it is written.
/// Every file must then have the sha256 the hub's image.json records, the size the hub lists,
/// and the whole image the hub's digest. Only then does the directory take the place of
/// `IMAGES/N`: swapped with the old one (renameat2 RENAME_EXCHANGE), which is then removed, or
/// renamed into place when there was none. A runner starting a VM meanwhile reads either the
/// old image or the new one, never half of each. The image's build lock is held throughout, so
/// an `image build N` cannot install over a pull, nor a pull over a build.
package struct ImageInstaller: Sendable {
    /// The images directory (`--images`).
    package let root: String

    package init(root: String) {
        self.root = root
    }

    /// The prefix of the temporary directories of pulls of image `index`.
    package static func temporaryPrefix(_ index: Int) -> String { ".pull-\(index)-" }

    /// Installs `image` (the hub's listing entry) with the image.json `manifest`; `fetch` writes
    /// one listed file to the path it is given and returns the sha256 of what it wrote.
    package func install(_ image: HubImage, manifest: Data,
                        fetch: @escaping @Sendable (HubImage.File, String) async throws -> String) async throws {
        let (root, index) = (self.root, image.index)
        let (lock, staging) = try await OwnThread.run("construir-pull-stage") { () -> (BuildLock, String) in
            let lock = try BuildLock(root: root, index: index)
            return (lock, try PrivateDirectory.makeUnique(in: root, prefix: Self.temporaryPrefix(index)))
        }
        defer { lock.release() }
        do {
            let names = try Self.check(manifest, of: image)
            try await OwnThread.run("construir-pull-manifest") {
                try FileSystem.writeDurably(manifest, to: "\(staging)/\(BuildImage.manifestName)", mode: 0o600)
            }
            var sums: [String: String] = [:]
            for name in names {
                guard let file = image.files.first(where: { $0.name == name }) else { continue }  // check() made sure
                sums[name] = try await fetch(file, "\(staging)/\(name)")
            }
            try await OwnThread.run("construir-pull-install") { [sums] in
                try Self.verify(staging: staging, image: image, sums: sums)
                try Self.replace("\(root)/\(index)", with: staging)
            }
        } catch {
            _ = try? await OwnThread.run("construir-pull-cleanup") { try? FileManager.default.removeItem(atPath: staging) }
            throw error
        }
    }

    /// The files image.json lists, each a plain name the hub lists with the same sha256; throws
    /// otherwise (a hub whose image.json changed since it started, or one that lies).
    static func check(_ manifest: Data, of image: HubImage) throws -> [String] {
        let parsed: BuildImage.Manifest
        do {
            parsed = try JSONDecoder().decode(BuildImage.Manifest.self, from: manifest)
        } catch {
            throw ConstruirError(.protocolViolation, "image \(image.index): the hub's image.json is not valid", cause: error)
        }
        guard parsed.index == image.index else {
            throw ConstruirError(.protocolViolation, "image \(image.index): the hub's image.json says it is image \(parsed.index)")
        }
        let recorded = parsed.files ?? [:]
        let names = Set([parsed.kernel] + [parsed.initrd, parsed.rootfs].compactMap { $0 } + recorded.keys).sorted()
        let listed = Set(image.files.map(\.name))
        for name in names {
            guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), SafeName.isSafe(name) else {
                throw ConstruirError(.unsafeEntry, "image \(image.index): the hub's image.json names a file that is not a plain name: \(name)")
            }
            guard recorded[name] != nil else {
                throw ConstruirError(.protocolViolation, "image \(image.index): the hub's image.json records no sha256 for \(name)")
            }
            guard listed.contains(name) else {
                throw ConstruirError(.protocolViolation, "image \(image.index): the hub's image.json lists \(name), its image list does not")
            }
        }
        guard listed == Set(names) else {
            throw ConstruirError(.protocolViolation, "image \(image.index): the hub's image list and its image.json name different files")
        }
        return names
    }

    /// Every file against image.json (its sha256 as hashed while it arrived), then the digest
    /// against the hub's listing.
    static func verify(staging: String, image: HubImage, sums: [String: String]) throws {
        let staged = try BuildImage(index: image.index, directory: staging)
        for name in staged.verifiedFiles {
            let expected = staged.manifest.files?[name] ?? ""
            guard let actual = sums[name] else {
                throw ConstruirError(.notFound, "image \(image.index): \(name) was not downloaded")
            }
            guard actual == expected else {
                throw ConstruirError(.invalidArgument, "image \(image.index): \(name) has sha256 \(actual), the hub's image.json records \(expected)")
            }
        }
        let digest = try staged.verifiedDigest { path in
            guard let sum = sums[(path as NSString).lastPathComponent] else { throw ConstruirError(.notFound, "\(path) was not downloaded") }
            return sum
        }
        guard digest == image.digest else {
            throw ConstruirError(.invalidArgument, "image \(image.index): its digest is \(digest), the hub lists \(image.digest)")
        }
    }

    /// `staging` takes the place of `target` in one step; the old image, if any, is removed after.
    /// Modes become those of a built image (0755, files 0644): QEMU run by a system libvirt
    /// reads image files as its own user, and never relabels them.
    static func replace(_ target: String, with staging: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: staging) {
            try systemCall("chmod", path: "\(staging)/\(name)") { chmod("\(staging)/\(name)", 0o644) }
        }
        try systemCall("chmod", path: staging) { chmod(staging, 0o755) }
        if FileSystem.exists(target) {
            try FileSystem.exchange(staging, target)
            try? FileSystem.fsyncParent(of: target)
            try? FileManager.default.removeItem(atPath: staging)  // the old image, now here; installed either way
        } else {
            try FileSystem.renameNoReplace(staging, target)
            try? FileSystem.fsyncParent(of: target)
        }
    }
}
