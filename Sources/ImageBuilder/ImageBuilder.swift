import ConstruirSystem
import Foundation
import JobModel

/// Builds build image N from its recipe, `images/recipes/N.yml` (`construir image build N`).
///
/// Re-running is safe and cheap: when image.json records the recipe hash of the current recipe
/// and build inputs, and every file still matches its recorded sha256, nothing is rebuilt.
/// Everything is made in `images/.cache/build-N/` and moved into `images/N/` at the end. A build
/// writes only there: `images/N/` is generated and untracked, so building never changes a file
/// git tracks.
package struct ImageBuilder: Sendable {
    /// Part of the recipe hash: bump it when a change here changes what a build produces.
    package static let builderVersion = "construir image builder 1"
    /// The agent every image runs as /init (part of every recipe hash).
    package static let agentPath = "agent/construir-agent"
    /// Builds a kernel from Debian's sources for recipes with `kernel.config`.
    package static let kernelScriptPath = "build-kernel.sh"
    /// SOURCE_DATE_EPOCH of root filesystem builds, and the time of every file in a squashfs
    /// root (2025-01-01T00:00:00Z): with the same package versions, a rebuild gives the same bytes.
    package static let sourceDateEpoch = 1_735_689_600

    package enum Outcome: Sendable, Equatable {
        case upToDate(BuildImage.Manifest)
        case built(BuildImage.Manifest)
    }

    /// The images directory, absolute.
    package let root: String
    package let progress: BuildProgress

    package init(root: String, progress: BuildProgress) {
        self.root = FileSystem.absolute(root)
        self.progress = progress
    }

    package func recipePath(_ index: Int) -> String { "\(root)/recipes/\(index).yml" }

    /// The recipe of image `index`; it must say it is image `index`.
    package func recipe(_ index: Int) throws -> ImageRecipe {
        let path = recipePath(index)
        guard FileManager.default.fileExists(atPath: path) else {
            let known = ImageCatalog(root: root).indexes().filter { FileManager.default.fileExists(atPath: recipePath($0)) }
            throw ConstruirError(.notFound, "there is no recipe for image \(index) (\(path)); recipes exist for: "
                + (known.isEmpty ? "none" : known.map(String.init).joined(separator: ", ")))
        }
        let recipe = try ImageRecipe.load(path: path)
        guard recipe.index == index else {
            throw ConstruirError(.invalidArgument, "\(path) says `index: \(recipe.index)`, expected \(index)")
        }
        return recipe
    }

    /// The files a build of `recipe` reads besides the Debian packages, relative to `root`.
    package func inputs(of recipe: ImageRecipe) -> [String] {
        var inputs = ["recipes/\(recipe.index).yml", recipe.initramfs.script, Self.agentPath]
        if let config = recipe.kernel.config { inputs += [config, Self.kernelScriptPath] }
        inputs += recipe.files.compactMap(\.source)
        var seen = Set<String>()
        return inputs.filter { seen.insert($0).inserted }
    }

    /// sha256 over the builder version and `sha256sum`-style lines of every input file.
    package func recipeHash(_ recipe: ImageRecipe) throws -> String {
        var text = "\(Self.builderVersion)\n"
        for input in inputs(of: recipe) {
            let path = "\(root)/\(input)"
            guard FileManager.default.fileExists(atPath: path) else {
                throw ConstruirError(.notFound, "image \(recipe.index): build input \(path) is missing")
            }
            text += "\(try BuildImage.sha256(ofFile: path))  \(input)\n"
        }
        return Hex.sha256(text)
    }

    /// Whether `images/N/` was built from this recipe hash and still matches its image.json.
    package func isUpToDate(_ index: Int, recipeHash: String) -> Bool {
        let directory = "\(root)/\(index)"
        guard let manifest = try? ImageMetadata.read(directory: directory), manifest.index == index,
              manifest.recipeSHA256 == recipeHash,
              let image = try? BuildImage(index: index, directory: directory) else { return false }
        return image.verify().isValid
    }

    /// Builds image `index` unless it is up to date (or always, with `force`).
    package func build(_ index: Int, force: Bool = false) throws -> Outcome {
        let recipe = try recipe(index)
        let hash = try recipeHash(recipe)
        let lock = try BuildLock(root: root, index: index)
        defer { lock.release() }
        if !force, isUpToDate(index, recipeHash: hash) {
            let manifest = try ImageMetadata.read(directory: "\(root)/\(index)")
            progress.note("image \(index) is up to date (recipe sha256 \(hash.prefix(12)), files verified); use --force to rebuild")
            return .upToDate(manifest)
        }
        progress.note("building image \(index) (\(recipe.kind.rawValue)) from recipes/\(index).yml")
        let manifest: BuildImage.Manifest
        switch recipe.kind {
        case .initramfsOnly: manifest = try buildInitramfsOnly(recipe, hash: hash)
        case .rootfs: manifest = try buildRootfs(recipe, hash: hash)
        }
        progress.note("image \(index) built in \(root)/\(index)")
        return .built(manifest)
    }

    // MARK: initramfs-only (image 0): the script does everything

    private func buildInitramfsOnly(_ recipe: ImageRecipe, hash: String) throws -> BuildImage.Manifest {
        progress.begin(step: 1, of: 1, "kernel and initramfs (\(recipe.initramfs.script))")
        do {
            try Tool.run(["\(root)/\(recipe.initramfs.script)", root],
                         environment: kernelEnvironment(recipe).merging(["CONSTRUIR_RECIPE_SHA256": hash]) { $1 },
                         output: progress.output)
        } catch {
            progress.end("failed")
            throw error
        }
        progress.end()
        let manifest = try ImageMetadata.read(directory: "\(root)/\(recipe.index)")
        guard manifest.index == recipe.index, manifest.recipeSHA256 == hash else {
            throw ConstruirError(.internalError, "\(recipe.initramfs.script) did not write image \(recipe.index) with recipe sha256 \(hash)")
        }
        guard manifest.cmdline == recipe.kernel.cmdline else {
            throw ConstruirError(.invalidArgument, "recipes/\(recipe.index).yml and \(recipe.initramfs.script) disagree on the kernel command line (`\(recipe.kernel.cmdline)` against `\(manifest.cmdline)`): bring them in step")
        }
        return manifest
    }

    /// The script's kernel choice, always explicit: its defaults are recipe 0's, and an empty
    /// CONSTRUIR_KERNEL_CONFIG means Debian's binary kernel.
    private func kernelEnvironment(_ recipe: ImageRecipe) -> [String: String] {
        var environment = ["CONSTRUIR_KERNEL_CONFIG": recipe.kernel.config.map { "\(root)/\($0)" } ?? ""]
        if recipe.kernel.package != "linux-image-amd64" { environment["CONSTRUIR_KERNEL_PACKAGE"] = recipe.kernel.package }
        return environment
    }

    // MARK: rootfs (image 1)

    private func buildRootfs(_ recipe: ImageRecipe, hash: String) throws -> BuildImage.Manifest {
        guard let rootfs = recipe.rootfs else { throw ConstruirError(.internalError, "a rootfs recipe without rootfs") }
        let index = recipe.index
        let staging = "\(root)/.cache/build-\(index)"
        try removeTree(staging)
        try FileSystem.makeDirectory(staging)
        defer { try? removeTree(staging) }
        let steps = 4

        // 1. Kernel and initramfs, by the same script as image 0, with the root modules added.
        let boot = "\(staging)/boot"
        try step(1, of: steps, "kernel and initramfs (\(recipe.initramfs.script))") {
            try Tool.run(["\(root)/\(recipe.initramfs.script)", root],
                         environment: kernelEnvironment(recipe).merging([
                             "CONSTRUIR_INITRAMFS_ONLY": boot,
                             "CONSTRUIR_ROOT_MODULES": recipe.initramfs.rootModules.joined(separator: " "),
                             "CONSTRUIR_ROOT_FSTYPE": rootfs.fstype,
                         ]) { $1 }, output: progress.output)
        }
        let info = try BuildInfo.parse(contentsOf: "\(boot)/build-info")

        // 2. The root filesystem tree: Debian packages installed by mmdebstrap, then the recipe's
        //    removals and extra files; its package list.
        let tree = "\(staging)/rootfs"
        var installed: [String] = []
        try step(2, of: steps, "root filesystem from Debian \(recipe.suite) packages (mmdebstrap)") {
            try Tool.run(mmdebstrapArguments(recipe, rootfs: rootfs, target: tree),
                         environment: ["SOURCE_DATE_EPOCH": String(Self.sourceDateEpoch)], output: progress.output)
            try customize(tree: tree, recipe: recipe)
            let lines = try Tool.run(["dpkg-query", "--admindir=\(tree)/var/lib/dpkg", "-W", "--showformat=${Package} ${Version}\\n"],
                                     output: { _ in })
            installed = lines.filter { !$0.isEmpty }.sorted()
            let names = Set(installed.map { String($0.prefix { $0 != " " }) })
            let missing = recipe.packages.filter { !names.contains($0) }
            guard missing.isEmpty else {
                throw ConstruirError(.internalError, "packages asked for but not installed: \(missing.joined(separator: ", "))")
            }
            progress.output("\(installed.count) packages installed")
        }
        try ImageMetadata.writePackageList(installed, to: "\(staging)/\(ImageMetadata.rootfsPackagesName)")

        // 3. The filesystem image.
        let image = "\(staging)/\(rootfs.fileName)"
        try makeFilesystemImage(rootfs, tree: tree, image: image, step: 3, of: steps)

        // 4. Hash and move everything into images/N/.
        var manifest = BuildImage.Manifest(
            index: index, description: recipe.description, protocol: BuildImage.guestProtocol, kernel: "vmlinux", initrd: "initrd.img",
            rootfs: rootfs.fileName, cmdline: recipe.kernel.cmdline, kernelVersion: info.kernelVersion,
            packages: info.packages.sorted(), rootfsPackages: ImageMetadata.rootfsPackagesName, recipeSHA256: hash)
        let staged = ["vmlinux": "\(boot)/vmlinux", "initrd.img": "\(boot)/initrd.img",
                      rootfs.fileName: image, ImageMetadata.rootfsPackagesName: "\(staging)/\(ImageMetadata.rootfsPackagesName)"]
        var sums: [String: String] = [:]
        var sizes: [String: Int64] = [:]
        try step(4, of: steps, "hashing and installing into \(index)/") {
            for (name, path) in staged.sorted(by: { $0.key < $1.key }) {
                sums[name] = try BuildImage.sha256(ofFile: path)
                sizes[name] = try FileSystem.size(of: path)
                progress.output("\(name)  \(sizes[name] ?? 0) bytes  \(sums[name] ?? "")")
            }
            manifest.files = sums
            try install(staged: staged, manifest: manifest)
        }
        return manifest
    }

    /// Step 3: the root filesystem image of `tree`, squashfs or ext4 as the recipe says.
    private func makeFilesystemImage(_ rootfs: ImageRecipe.RootFilesystem, tree: String, image: String, step number: Int, of total: Int) throws {
        switch rootfs.format {
        case .squashfs:
            try step(number, of: total, "squashfs image (mksquashfs\(rootfs.compression.map { ", \($0)" } ?? ""))") {
                var arguments = ["mksquashfs", tree, image, "-noappend", "-no-progress", "-quiet",
                                 "-all-time", String(Self.sourceDateEpoch), "-mkfs-time", String(Self.sourceDateEpoch)]
                if let compression = rootfs.compression {
                    arguments += ["-comp", compression]
                    if let level = rootfs.compressionLevel { arguments += ["-Xcompression-level", String(level)] }
                }
                try Tool.run(arguments, output: progress.output)
                progress.output("\(rootfs.fileName): \(ImageCatalog.formatSize(try FileSystem.size(of: image)))")
            }
        case .ext4:
            try step(number, of: total, "ext4 image (mkfs.ext4 -d)") {
                let used = try Tool.run(["du", "-s", "-B1", "--apparent-size", tree], output: { _ in })
                let bytes = Int64(used.first?.split(separator: "\t").first ?? "") ?? 0
                let size = ((bytes + bytes / 4 + (64 << 20)) / (1 << 20)) * (1 << 20)
                try Tool.run(["mkfs.ext4", "-q", "-F", "-d", tree, "-L", "construir-root", "-m", "0", "-O", "^has_journal",
                              image, "\(size / 1024)k"], output: progress.output)
            }
        }
    }

    private func step(_ number: Int, of total: Int, _ title: String, _ body: () throws -> Void) throws {
        progress.begin(step: number, of: total, title)
        do {
            try body()
        } catch {
            progress.end("failed")
            throw error
        }
        progress.end()
    }

    func mmdebstrapArguments(_ recipe: ImageRecipe, rootfs: ImageRecipe.RootFilesystem, target: String) -> [String] {
        let cache = "\(root)/.cache/rootfs-\(recipe.index)-debs"
        var arguments = ["mmdebstrap", "--variant=\(rootfs.variant)", "--format=directory",
                         "--include=\(recipe.packages.joined(separator: ","))"]
        arguments += rootfs.pathExclude.map { "--dpkgopt=path-exclude=\($0)" }
        arguments += rootfs.pathInclude.map { "--dpkgopt=path-include=\($0)" }
        // Keep the downloaded packages between builds: copied in before apt runs, the set
        // actually used copied back out afterwards (mmdebstrap still empties the chroot's cache).
        arguments += [
            "--skip=essential/unlink",
            "--setup-hook=mkdir -p \(ShellQuote.quote(cache)) \"$1\"/var/cache/apt/archives/",
            "--setup-hook=sync-in \(ShellQuote.quote(cache)) /var/cache/apt/archives/",
            "--customize-hook=find \(ShellQuote.quote(cache)) -maxdepth 1 -name '*.deb' -delete",
            "--customize-hook=sync-out /var/cache/apt/archives \(ShellQuote.quote(cache))",
        ]
        arguments += [recipe.suite, target] + recipe.mirrors
        return arguments
    }

    /// The recipe's removals, then its extra files, in the root filesystem tree.
    func customize(tree: String, recipe: ImageRecipe) throws {
        for path in recipe.remove {
            let full = tree + path
            if (try? FileManager.default.attributesOfItem(atPath: full)) != nil {
                try FileManager.default.removeItem(atPath: full)
            }
        }
        for file in recipe.files {
            guard !file.path.split(separator: "/").contains("..") else {
                throw ConstruirError(.invalidArgument, "extra file \(file.path) leaves the root filesystem")
            }
            let full = tree + file.path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let data: Data
            if let source = file.source {
                guard let contents = FileManager.default.contents(atPath: "\(root)/\(source)") else {
                    throw ConstruirError(.notFound, "extra file source \(root)/\(source) not found")
                }
                data = contents
            } else {
                data = Data((file.content ?? "").utf8)
            }
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) != nil {
                try FileManager.default.removeItem(atPath: full)  // never write through a link
            }
            try data.write(to: URL(fileURLWithPath: full))
            try FileManager.default.setAttributes([.posixPermissions: file.permissions ?? 0o644], ofItemAtPath: full)
        }
    }

    /// Moves the staged files into images/N/ and writes image.json last; files of the previous
    /// build that this one no longer has are removed.
    private func install(staged: [String: String], manifest: BuildImage.Manifest) throws {
        let directory = "\(root)/\(manifest.index)"
        try FileSystem.makeDirectory(directory)
        let previous = (try? ImageMetadata.read(directory: directory))?.files?.keys.map { $0 } ?? []
        for (name, path) in staged {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            try FileManager.default.moveItem(atPath: path, toPath: "\(directory)/\(name)")
        }
        for name in previous where staged[name] == nil && !name.contains("/") && name != ImageMetadata.manifestName {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
        try ImageMetadata.write(manifest, directory: directory)
    }

    /// Removes a staging tree, unless something is still mounted inside it (an interrupted
    /// mmdebstrap may leave /proc, /sys or /dev mounted in the chroot: removing through those
    /// would remove the host's files).
    private func removeTree(_ path: String) throws {
        guard (try? FileManager.default.attributesOfItem(atPath: path)) != nil else { return }
        let mounts = Self.mountPoints(under: path)
        guard mounts.isEmpty else {
            throw ConstruirError(.invalidArgument, "not removing \(path): \(mounts.joined(separator: ", ")) still mounted there (unmount first: umount -R PATH)")
        }
        try FileManager.default.removeItem(atPath: path)
    }

    /// Mount points at or below `path`, from /proc/self/mounts.
    static func mountPoints(under path: String, mounts: String? = nil) -> [String] {
        let table = mounts ?? (FileManager.default.contents(atPath: "/proc/self/mounts").map { String(decoding: $0, as: UTF8.self) } ?? "")
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { return nil }
            // Spaces and other characters are octal escapes (\040) in this file.
            let point = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }
}
