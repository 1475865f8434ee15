import Foundation
import Testing
@testable import ImageBuilder

@Suite struct ImageRecipeTests {
    static let valid = """
    index: 4
    kind: rootfs
    description: >-
      A test image
      on two lines.
    suite: bookworm
    mirrors:
      - deb http://deb.debian.org/debian bookworm main
    kernel:
      package: linux-image-amd64
      cmdline: console=ttyS0 quiet
    initramfs:
      script: build-image0.sh
      root_modules: [overlay, squashfs]
    packages: [make, gcc]
    rootfs:
      format: squashfs
      compression: zstd
      compression_level: 3
      path_exclude: [/usr/share/man/*]
    files:
      - path: /etc/hostname
        content: "box\\n"
      - path: /usr/local/bin/tool
        source: agent/tool
        mode: 0755
    remove: [/etc/resolv.conf]
    """

    @Test func aValidRecipeParses() throws {
        let recipe = try ImageRecipe.parse(Self.valid)
        #expect(recipe.index == 4)
        #expect(recipe.kind == .rootfs)
        #expect(recipe.description == "A test image on two lines.")
        #expect(recipe.suite == "bookworm")
        #expect(recipe.mirrors == ["deb http://deb.debian.org/debian bookworm main"])
        #expect(recipe.kernel == .init(package: "linux-image-amd64", cmdline: "console=ttyS0 quiet"))
        #expect(recipe.initramfs == .init(script: "build-image0.sh", rootModules: ["overlay", "squashfs"]))
        #expect(recipe.packages == ["make", "gcc"])
        let rootfs = try #require(recipe.rootfs)
        #expect(rootfs.format == .squashfs)
        #expect(rootfs.variant == "apt")  // the default
        #expect(rootfs.compression == "zstd")
        #expect(rootfs.compressionLevel == 3)
        #expect(rootfs.pathExclude == ["/usr/share/man/*"])
        #expect(rootfs.pathInclude == [])
        #expect(rootfs.fileName == "rootfs.squashfs")
        #expect(recipe.files == [
            .init(path: "/etc/hostname", source: nil, content: "box\n", mode: nil),
            .init(path: "/usr/local/bin/tool", source: "agent/tool", content: nil, mode: "0755"),
        ])
        #expect(recipe.files[1].permissions == 0o755)
        #expect(recipe.remove == ["/etc/resolv.conf"])
    }

    @Test(arguments: [
        ("index: 4\n", "`index`"),
        ("kind: rootfs\n", "`kind`"),
        ("description: >-\n  A test image\n  on two lines.\n", "`description`"),
        ("suite: bookworm\n", "`suite`"),
        ("  package: linux-image-amd64\n", "`kernel.package`"),
        ("  cmdline: console=ttyS0 quiet\n", "`kernel.cmdline`"),
        ("  script: build-image0.sh\n", "`initramfs.script`"),
        ("packages: [make, gcc]\n", "`packages`"),
        ("  format: squashfs\n", "`rootfs.format`"),
        ("  root_modules: [overlay, squashfs]\n", "`initramfs.root_modules`"),
        ("mirrors:\n  - deb http://deb.debian.org/debian bookworm main\n", "`mirrors`"),
    ])
    func aMissingFieldIsNamed(removing: String, field: String) throws {
        #expect(Self.valid.contains(removing))
        let yaml = Self.valid.replacingOccurrences(of: removing, with: "")
        let error = #expect(throws: (any Error).self) { try ImageRecipe.parse(yaml, source: "recipes/4.yml") }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains("recipes/4.yml"), "\(message)")
        #expect(message.contains("missing field \(field)"), "\(message)")
    }

    @Test func anUnknownKindIsRefused() throws {
        let yaml = Self.valid.replacingOccurrences(of: "kind: rootfs", with: "kind: docker")
        let error = #expect(throws: (any Error).self) { try ImageRecipe.parse(yaml) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("unknown kind `docker` (expected initramfs-only or rootfs)"))
    }

    @Test func anUnknownFormatOrFieldIsRefused() throws {
        let badFormat = Self.valid.replacingOccurrences(of: "format: squashfs", with: "format: btrfs")
        #expect(throws: (any Error).self) { try ImageRecipe.parse(badFormat) }
        let typo = Self.valid.replacingOccurrences(of: "packages: [make, gcc]", with: "pakages: [make, gcc]")
        let error = #expect(throws: (any Error).self) { try ImageRecipe.parse(typo) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("unknown field `pakages`"))
        let nestedTypo = Self.valid.replacingOccurrences(of: "compression_level: 3", with: "level: 3")
        let nested = #expect(throws: (any Error).self) { try ImageRecipe.parse(nestedTypo) }
        #expect("\(nested.map { "\($0)" } ?? "")".contains("unknown field `rootfs.level`"))
    }

    @Test func wrongTypesAndInconsistentKindsAreRefused() throws {
        let wrongType = Self.valid.replacingOccurrences(of: "index: 4", with: "index: four")
        let error = #expect(throws: (any Error).self) { try ImageRecipe.parse(wrongType) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("`index`"))
        // initramfs-only images have no root filesystem.
        let initramfsOnly = Self.valid.replacingOccurrences(of: "kind: rootfs", with: "kind: initramfs-only")
        #expect(throws: (any Error).self) { try ImageRecipe.parse(initramfsOnly) }
        // A file needs exactly one of source and content.
        let both = Self.valid.replacingOccurrences(of: "    content: \"box\\n\"", with: "    content: \"box\\n\"\n    source: x")
        #expect(throws: (any Error).self) { try ImageRecipe.parse(both) }
        #expect(throws: (any Error).self) { try ImageRecipe.parse("just a string") }
        #expect(throws: (any Error).self) { try ImageRecipe.parse("index: [1") }
    }

    @Test func aKernelBuiltFromSourcesNeedsALinuxSourcePackageAndAPathInside() throws {
        let fromSources = Self.valid.replacingOccurrences(
            of: "  package: linux-image-amd64\n", with: "  package: linux-source-6.1\n  config: kernel/guest.config\n")
        #expect(try ImageRecipe.parse(fromSources).kernel.config == "kernel/guest.config")
        #expect(try ImageRecipe.parse(Self.valid).kernel.config == nil)
        for (bad, complaint) in [
            ("  package: linux-image-amd64\n  config: kernel/guest.config\n", "must be a linux-source package"),
            ("  package: linux-source-6.1\n  config: ../guest.config\n", "inside the images directory"),
            ("  package: linux-source-6.1\n  config: /etc/guest.config\n", "inside the images directory"),
        ] {
            let yaml = Self.valid.replacingOccurrences(of: "  package: linux-image-amd64\n", with: bad)
            let error = #expect(throws: (any Error).self) { try ImageRecipe.parse(yaml) }
            #expect("\(error.map { "\($0)" } ?? "")".contains(complaint), "\(bad)")
        }
    }

    @Test func theProjectsRecipesParse() throws {
        let zero = try ImageRecipe.load(path: "\(Repository.images)/recipes/0.yml")
        #expect(zero.index == 0)
        #expect(zero.kind == .initramfsOnly)
        #expect(zero.rootfs == nil)
        let one = try ImageRecipe.load(path: "\(Repository.images)/recipes/1.yml")
        #expect(one.index == 1)
        #expect(one.kind == .rootfs)
        #expect(Set(["build-essential", "git", "make", "cmake", "pkg-config", "python3", "ca-certificates", "xz-utils"])
            .isSubset(of: Set(one.packages)))
        #expect(one.initramfs.rootModules.contains("overlay"))
        #expect(one.kernel.cmdline == zero.kernel.cmdline)
    }

    /// Recipe 0 describes what build-image0.sh does; the two must not drift apart.
    @Test func recipe0MatchesBuildImage0Script() throws {
        let script = try String(contentsOfFile: "\(Repository.images)/build-image0.sh", encoding: .utf8)
        let recipe = try ImageRecipe.load(path: "\(Repository.images)/recipes/0.yml")
        let cmdline = try #require(script.split(separator: "\n").first { $0.hasPrefix("CMDLINE=") })
        #expect(cmdline == "CMDLINE='\(recipe.kernel.cmdline)'")
        let start = try #require(script.range(of: "USERLAND_PACKAGES=("))
        let end = try #require(script[start.upperBound...].firstIndex(of: ")"))
        let packages = script[start.upperBound..<end].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        #expect(packages == recipe.packages)
        #expect(recipe.initramfs.script == "build-image0.sh")
        // The script's default kernel is recipe 0's: built from these sources with these options.
        #expect(recipe.kernel.config == "kernel/construir.config")
        #expect(script.contains("KERNEL_CONFIG=${CONSTRUIR_KERNEL_CONFIG-$SCRIPT_DIR/\(recipe.kernel.config ?? "")}"))
        #expect(script.contains("KERNEL_PACKAGE=${KERNEL_PACKAGE:-\(recipe.kernel.package)}"))
        #expect(FileManager.default.fileExists(atPath: "\(Repository.images)/\(recipe.kernel.config ?? "")"))
        #expect(recipe.files.contains { $0.path == "/init" && $0.source == ImageBuilder.agentPath })
    }
}
