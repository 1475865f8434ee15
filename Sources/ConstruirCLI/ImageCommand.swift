import ArgumentParser
import ConstruirSystem
import Foundation
import ImageBuilder
import JobModel
import Runner

/// `construir image`: build, list and verify build images.
public struct ImageCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list and verify build images.",
        discussion: """
        Image N lives in IMAGES/N/ (image.json and the files it lists) and is made from the recipe \
        IMAGES/recipes/N.yml. See images/README.md.
        """,
        subcommands: [Build.self, List.self, Verify.self])

    public init() {}

    struct Location: ParsableArguments {
        @Option(help: "Directory holding the build images (N/image.json) and their recipes (recipes/N.yml).")
        var images = "images"
    }

    /// `construir image build N`
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build image N from IMAGES/recipes/N.yml (skipped when it is up to date).",
            discussion: """
            Needs apt with current package lists (apt-get update), and for root filesystem images \
            mmdebstrap and mksquashfs (scripts/install-deps installs them) and root. Downloads are \
            cached in IMAGES/.cache/. An image is up to date when its image.json records the hash of \
            the current recipe and build inputs and its files still match; --force rebuilds anyway.
            """)

        @Argument(help: "The image index.") var index: Int
        @OptionGroup var location: Location
        @Flag(help: "Rebuild even when the image is up to date.") var force = false

        func run() throws {
            let builder = ImageBuilder(root: location.images, progress: BuildProgress(prefix: "construir image build \(index)"))
            do {
                _ = try builder.build(index, force: force)
            } catch {
                FileHandle.standardError.write(Data("construir image build \(index): error: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    /// `construir image list`
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the images: index, size, whether their files match image.json, digest, description.",
            discussion: """
            The digest is what a job pins with image_digest (construir package --image-digest): sha256 \
            over the sha256 of the files the VM boots (kernel, initramfs, root filesystem). Two images \
            built from different Debian package versions have different digests; --packages shows \
            which packages each holds.
            """)

        @OptionGroup var location: Location
        @Flag(help: "Also print each image's packages (name and version), to see why two digests differ.")
        var packages = false

        func run() throws {
            let catalog = ImageCatalog(root: FileSystem.absolute(location.images))
            let entries = catalog.entries()
            if entries.isEmpty {
                print("no images or recipes in \(catalog.root)")
                return
            }
            print(ImageCatalog.formatList(entries), terminator: "")
            if packages { print(ImageCatalog.formatPackages(entries), terminator: "") }
        }
    }

    /// `construir image verify [N]`
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check image files against the sha256 values in their image.json.",
            discussion: "Exits non-zero when a file is modified or missing, or an image cannot be read.")

        @Argument(help: "The image index; default: every built image.") var index: Int?
        @OptionGroup var location: Location

        func run() throws {
            let catalog = ImageCatalog(root: FileSystem.absolute(location.images))
            let indexes = index.map { [$0] } ?? ImageStore(root: catalog.root).availableIndexes()
            guard !indexes.isEmpty else {
                FileHandle.standardError.write(Data("no built images in \(catalog.root)\n".utf8))
                throw ExitCode.failure
            }
            var failed = false
            for index in indexes {
                let entry = catalog.entry(index)
                print(ImageCatalog.formatVerification(entry), terminator: "")
                if entry.state != .verified { failed = true }
            }
            if failed { throw ExitCode.failure }
        }
    }
}
