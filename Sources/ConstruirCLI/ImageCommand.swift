import ArgumentParser
import ConstruirSystem
import Foundation
import HubAPI
import HubClient
import ImageBuilder
import JobModel
import Runner

/// `construir image`: build, list and verify build images.
package struct ImageCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list, verify and pull build images.",
        discussion: """
        Image N lives in IMAGES/N/ (image.json and the files it lists) and is made from the recipe \
        IMAGES/recipes/N.yml, or fetched from a hub (image pull). See images/README.md.
        """,
        subcommands: [Build.self, List.self, Verify.self, Pull.self])

    package init() {}

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

    /// `construir image pull N --hub URL --token-file FILE`
    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch build image N from a hub (hub serve --images), check it, and install it as IMAGES/N.",
            discussion: """
            Every file is checked against the sha256 in the hub's image.json and the size the hub \
            lists, and the image against the hub's digest, before it replaces IMAGES/N in one step. \
            On any failure IMAGES/N stays as it was. A runner with the hub's image N gets the hub's \
            jobs for image N (docs/hub.md); run --hub ... --pull-images does this by itself.
            """)

        @Argument(help: "The image index.") var index: Int
        @OptionGroup var location: Location
        @OptionGroup var hubConnection: HubConnection

        func validate() throws {
            guard hubConnection.hub != nil else { throw ValidationError("image pull needs --hub URL and --token-file FILE") }
            guard index >= 0 else { throw ValidationError("the image index must not be negative") }
        }

        func run() async throws {
            let command = "image pull \(index)"
            let client: HubClient
            do {
                guard let made = try hubConnection.makeClient() else { throw ValidationError("no --hub given") }
                client = made
            } catch {
                throw fail(command, "\(error)")
            }
            let root = FileSystem.absolute(location.images)
            let started = ContinuousClock.now
            let image: HubImage
            do {
                image = try await client.pullImage(index, into: root)
            } catch {
                await client.shutdown()
                throw fail(command, "\(error)")
            }
            await client.shutdown()
            let bytes = image.files.reduce(Int64(0)) { $0 + $1.size }
            print("image \(index) pulled into \(root)/\(index): \(image.files.count) files, \(Units.formatBytes(bytes)), "
                  + "digest \(image.digest), in \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s")
        }
    }
}
