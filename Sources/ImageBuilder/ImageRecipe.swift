import ConstruirSystem
import Foundation
import Yams

/// What build image N is made of: `images/recipes/N.yml`, read by `construir image build N`.
///
/// Two kinds exist. `initramfs-only` (image 0): a kernel and an initramfs that holds everything
/// the job gets; `initramfs.script` builds it and the recipe describes what that script does.
/// `rootfs` (image 1): the same kind of kernel and initramfs (the script builds it, with the
/// recipe's `initramfs.root_modules` added), plus a Debian root filesystem made with mmdebstrap
/// from `packages`, stored as a read-only filesystem image that the agent mounts under an overlay.
package struct ImageRecipe: Sendable, Equatable {
    package enum Kind: String, Sendable, CaseIterable {
        case initramfsOnly = "initramfs-only"
        case rootfs
    }

    package struct Kernel: Sendable, Equatable {
        /// A Debian kernel package; the meta-package `linux-image-amd64` means the version it
        /// depends on at build time.
        package var package: String
        package var cmdline: String
        /// Kernel options (relative to the images directory): the kernel is built from
        /// `package`, a linux-source package, with `images/build-kernel.sh`. Nil: Debian's binary
        /// kernel `package` is used as it is.
        package var config: String? = nil
    }

    package struct Initramfs: Sendable, Equatable {
        /// The script that builds the kernel and initramfs, relative to the images directory.
        package var script: String
        /// Kernel modules the agent loads before mounting the root filesystem (rootfs images).
        package var rootModules: [String]
    }

    package struct RootFilesystem: Sendable, Equatable {
        package enum Format: String, Sendable, CaseIterable { case squashfs, ext4 }
        /// mmdebstrap's `--variant`.
        package var variant: String
        package var format: Format
        /// squashfs compressor (`-comp`), e.g. zstd, lz4, xz, gzip.
        package var compression: String?
        package var compressionLevel: Int?
        /// dpkg `path-exclude` / `path-include` patterns: files never installed.
        package var pathExclude: [String]
        package var pathInclude: [String]
        /// The file name in `images/N/`.
        package var fileName: String { "rootfs.\(format.rawValue)" }
        /// The filesystem type the agent mounts.
        package var fstype: String { format.rawValue }
    }

    /// An extra file put into the image (the root filesystem of a rootfs image; in the
    /// initramfs for initramfs-only images, where the script does it).
    package struct ExtraFile: Sendable, Equatable {
        package var path: String
        /// Relative to the images directory.
        package var source: String?
        package var content: String?
        /// Octal, e.g. "0644".
        package var mode: String?

        package var permissions: Int? { mode.flatMap { Int($0, radix: 8) } }
    }

    package var index: Int
    package var kind: Kind
    package var description: String
    package var suite: String
    /// apt sources lines (`deb URI SUITE COMPONENTS`) for the root filesystem.
    package var mirrors: [String]
    package var kernel: Kernel
    package var initramfs: Initramfs
    /// Debian packages: installed into the root filesystem (rootfs), or the initramfs's userland
    /// (initramfs-only, as the script's USERLAND_PACKAGES).
    package var packages: [String]
    package var rootfs: RootFilesystem?
    package var files: [ExtraFile]
    /// Paths removed from the root filesystem after installation.
    package var remove: [String]
}

extension ImageRecipe {
    /// Reads and checks `path`.
    package static func load(path: String) throws -> ImageRecipe {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConstruirError(.notFound, "recipe \(path) not found")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    /// Parses a recipe. Every error names `source` and the field; unknown fields are errors too,
    /// so that a misspelt key is not silently ignored.
    package static func parse(_ yaml: String, source: String = "recipe") throws -> ImageRecipe {
        func fail(_ message: String) -> ConstruirError {
            ConstruirError(.invalidArgument, "\(source): \(message)")
        }
        let raw = try decode(yaml, fail: fail)

        guard let index = raw.index else { throw fail("missing field `index`") }
        guard index >= 0 else { throw fail("`index` must not be negative") }
        guard let kindName = raw.kind else { throw fail("missing field `kind` (\(kindNames))") }
        guard let kind = Kind(rawValue: kindName) else {
            throw fail("unknown kind `\(kindName)` (expected \(kindNames))")
        }
        guard let description = raw.description?.trimmingCharacters(in: .whitespacesAndNewlines), !description.isEmpty else {
            throw fail("missing field `description`")
        }
        guard let suite = raw.suite, !suite.isEmpty else { throw fail("missing field `suite`") }
        guard let kernel = raw.kernel else { throw fail("missing field `kernel`") }
        guard let kernelPackage = kernel.package, !kernelPackage.isEmpty else { throw fail("missing field `kernel.package`") }
        guard let cmdline = kernel.cmdline?.trimmingCharacters(in: .whitespacesAndNewlines), !cmdline.isEmpty else {
            throw fail("missing field `kernel.cmdline`")
        }
        if let config = kernel.config {
            guard !config.isEmpty, !config.hasPrefix("/"), !config.split(separator: "/").contains("..") else {
                throw fail("`kernel.config` must be a path inside the images directory")
            }
            guard kernelPackage.hasPrefix("linux-source-") else {
                throw fail("`kernel.config` builds the kernel from sources: `kernel.package` must be a linux-source package, not `\(kernelPackage)`")
            }
        }
        guard let initramfs = raw.initramfs else { throw fail("missing field `initramfs`") }
        guard let script = initramfs.script, !script.isEmpty else { throw fail("missing field `initramfs.script`") }
        guard let packages = raw.packages, !packages.isEmpty else { throw fail("missing field `packages`") }
        let mirrors = raw.mirrors ?? []
        for mirror in mirrors where !mirror.hasPrefix("deb ") {
            throw fail("mirror `\(mirror)` is not an apt sources line (`deb URI SUITE COMPONENTS`)")
        }

        let rootfs = try rootFilesystem(raw, kind: kind, rootModules: initramfs.rootModules ?? [], mirrors: mirrors, fail: fail)

        var files: [ExtraFile] = []
        for file in raw.files ?? [] {
            guard let path = file.path, path.hasPrefix("/") else { throw fail("each file needs an absolute `path`") }
            guard (file.source == nil) != (file.content == nil) else {
                throw fail("file \(path): give exactly one of `source` and `content`")
            }
            if let mode = file.mode, Int(mode, radix: 8) == nil { throw fail("file \(path): `mode` must be octal, e.g. \"0644\"") }
            files.append(ExtraFile(path: path, source: file.source, content: file.content, mode: file.mode))
        }
        let remove = raw.remove ?? []
        for path in remove where !path.hasPrefix("/") || path.split(separator: "/").contains("..") {
            throw fail("`remove` entry `\(path)` must be an absolute path without `..`")
        }

        return ImageRecipe(
            index: index, kind: kind, description: description, suite: suite, mirrors: mirrors,
            kernel: Kernel(package: kernelPackage, cmdline: cmdline, config: kernel.config),
            initramfs: Initramfs(script: script, rootModules: initramfs.rootModules ?? []),
            packages: packages, rootfs: rootfs, files: files, remove: remove)
    }

    /// The recipe's YAML as `Raw`, every mapping's keys checked first (a misspelt key is an
    /// error, not ignored).
    private static func decode(_ yaml: String, fail: (String) -> ConstruirError) throws -> Raw {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw fail("not valid YAML: \(error)")
        }
        guard let node, let top = node.mapping else { throw fail("expected a mapping of fields") }
        try checkKeys(top, allowed: ["index", "kind", "description", "suite", "mirrors", "kernel", "initramfs",
                                     "packages", "rootfs", "files", "remove"], at: "", fail: fail)
        for (section, allowed) in [("kernel", ["package", "cmdline", "config"]),
                                   ("initramfs", ["script", "root_modules"]),
                                   ("rootfs", ["variant", "format", "compression", "compression_level",
                                               "path_exclude", "path_include"])] {
            if let sub = top[section] {
                guard let mapping = sub.mapping else { throw fail("`\(section)` must be a mapping") }
                try checkKeys(mapping, allowed: Set(allowed), at: "\(section).", fail: fail)
            }
        }
        for file in top["files"]?.sequence ?? [] {
            guard let mapping = file.mapping else { throw fail("each entry of `files` must be a mapping") }
            try checkKeys(mapping, allowed: ["path", "source", "content", "mode"], at: "files[].", fail: fail)
        }

        let raw: Raw
        do {
            raw = try YAMLDecoder().decode(Raw.self, from: node)
        } catch let error as DecodingError {
            throw fail(describe(error))
        } catch {
            throw fail("\(error)")
        }
        return raw
    }

    /// The `rootfs` section, required by kind rootfs and refused by kind initramfs-only.
    private static func rootFilesystem(_ raw: Raw, kind: Kind, rootModules: [String], mirrors: [String],
                                       fail: (String) -> ConstruirError) throws -> RootFilesystem? {
        var rootfs: RootFilesystem?
        switch kind {
        case .initramfsOnly:
            if raw.rootfs != nil { throw fail("`rootfs` is only for kind rootfs") }
            if !rootModules.isEmpty { throw fail("`initramfs.root_modules` is only for kind rootfs") }
        case .rootfs:
            guard let section = raw.rootfs else { throw fail("missing field `rootfs` (kind rootfs)") }
            guard !mirrors.isEmpty else { throw fail("missing field `mirrors` (kind rootfs)") }
            guard let formatName = section.format else { throw fail("missing field `rootfs.format`") }
            guard let format = RootFilesystem.Format(rawValue: formatName) else {
                throw fail("unknown rootfs.format `\(formatName)` (expected \(RootFilesystem.Format.allCases.map(\.rawValue).joined(separator: " or ")))")
            }
            guard !rootModules.isEmpty else {
                throw fail("missing field `initramfs.root_modules` (the modules that mount the root filesystem)")
            }
            if format == .ext4, section.compression != nil { throw fail("`rootfs.compression` is only for squashfs") }
            rootfs = RootFilesystem(
                variant: section.variant ?? "apt", format: format,
                compression: section.compression, compressionLevel: section.compressionLevel,
                pathExclude: section.pathExclude ?? [], pathInclude: section.pathInclude ?? [])
        }
        return rootfs
    }

    private static var kindNames: String { Kind.allCases.map(\.rawValue).joined(separator: " or ") }

    private static func checkKeys(_ mapping: Node.Mapping, allowed: Set<String>, at prefix: String,
                                  fail: (String) -> ConstruirError) throws {
        for key in mapping.keys {
            guard let name = key.string else { throw fail("field names must be strings") }
            if !allowed.contains(name) {
                throw fail("unknown field `\(prefix)\(name)` (known: \(allowed.sorted().joined(separator: ", ")))")
            }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .typeMismatch(type, context):
            return "field `\(path(context))` has the wrong type (expected \(type))"
        case let .valueNotFound(type, context):
            return "field `\(path(context))` is empty (expected \(type))"
        case let .keyNotFound(key, context):
            return "missing field `\(path(context) + (context.codingPath.isEmpty ? "" : ".") + key.stringValue)`"
        case let .dataCorrupted(context):
            return "field `\(path(context))`: \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// The recipe as written, every field optional: checked by `parse`.
    private struct Raw: Decodable {
        struct Kernel: Decodable { var package: String?; var cmdline: String?; var config: String? }
        struct Initramfs: Decodable {
            var script: String?
            var rootModules: [String]?
            enum CodingKeys: String, CodingKey { case script, rootModules = "root_modules" }
        }
        struct Rootfs: Decodable {
            var variant: String?
            var format: String?
            var compression: String?
            var compressionLevel: Int?
            var pathExclude: [String]?
            var pathInclude: [String]?
            enum CodingKeys: String, CodingKey {
                case variant, format, compression
                case compressionLevel = "compression_level"
                case pathExclude = "path_exclude"
                case pathInclude = "path_include"
            }
        }
        struct File: Decodable { var path: String?; var source: String?; var content: String?; var mode: String? }

        var index: Int?
        var kind: String?
        var description: String?
        var suite: String?
        var mirrors: [String]?
        var kernel: Kernel?
        var initramfs: Initramfs?
        var packages: [String]?
        var rootfs: Rootfs?
        var files: [File]?
        var remove: [String]?
    }
}
