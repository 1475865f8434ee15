import Foundation
import Testing
import TestSupport
@testable import ImageBuilder
import JobModel

@Suite struct ImageBuilderTests {
    /// A fake images directory: an agent, an initramfs-only recipe for image 5 and a script that
    /// "builds" it the way build-image0.sh does (files, image.json with the recipe hash), counting
    /// its runs in `runs`.
    private func makeImagesDirectory(_ dir: String, scriptExit: Int = 0) throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/agent", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/recipes", withIntermediateDirectories: true)
        try "#!/bin/sh\necho agent\n".write(toFile: "\(dir)/agent/construir-agent", atomically: true, encoding: .utf8)
        try """
        index: 5
        kind: initramfs-only
        description: a fake initramfs-only image
        suite: bookworm
        kernel:
          package: linux-image-amd64
          cmdline: console=ttyS0 fake
        initramfs:
          script: fake-build.sh
        packages: [busybox-static]
        """.write(toFile: "\(dir)/recipes/5.yml", atomically: true, encoding: .utf8)
        try """
        #!/bin/bash
        set -eu
        out=$1/5
        echo "fake-build: building into $out"
        echo run >> "$1/runs"
        [ \(scriptExit) = 0 ] || { echo "fake-build: something broke" >&2; exit \(scriptExit); }
        mkdir -p "$out"
        printf 'kernel' > "$out/vmlinux"
        printf 'initramfs' > "$out/initrd.img"
        k=$(sha256sum < "$out/vmlinux" | cut -d' ' -f1)
        i=$(sha256sum < "$out/initrd.img" | cut -d' ' -f1)
        cat > "$out/image.json" <<JSON
        {"index": 5, "description": "fake", "protocol": 1, "kernel": "vmlinux", "initrd": "initrd.img",
         "cmdline": "console=ttyS0 fake", "recipe_sha256": "$CONSTRUIR_RECIPE_SHA256",
         "files": {"vmlinux": "$k", "initrd.img": "$i"}}
        JSON
        echo "fake-build: done"
        """.write(toFile: "\(dir)/fake-build.sh", atomically: true, encoding: .utf8)
        #expect(chmod("\(dir)/fake-build.sh", 0o755) == 0)
    }

    private func runs(_ dir: String) -> Int {
        ((try? String(contentsOfFile: "\(dir)/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    private func builder(_ dir: String, _ transcript: Transcript) -> ImageBuilder {
        ImageBuilder(root: dir, progress: BuildProgress(prefix: "test", style: .plain, write: { transcript.append($0) }))
    }

    @Test func buildingIsSkippedWhileTheImageMatchesItsRecipe() async throws {
        try await withTemporaryDirectory { dir in
            try makeImagesDirectory(dir)
            let transcript = Transcript()
            let builder = builder(dir, transcript)

            guard case let .built(manifest) = try builder.build(5) else { throw TestFailure("expected a build") }
            #expect(runs(dir) == 1)
            let hash = try builder.recipeHash(try builder.recipe(5))
            #expect(manifest.recipeSHA256 == hash)
            #expect(builder.isUpToDate(5, recipeHash: hash))
            #expect(transcript.text.contains("test: [1/1] kernel and initramfs (fake-build.sh)\n"))
            #expect(transcript.text.contains("    fake-build: building into \(dir)/5\n"))
            #expect(transcript.text.contains("test: [1/1] kernel and initramfs (fake-build.sh): done in "))

            // Again: nothing to do.
            guard case .upToDate = try builder.build(5) else { throw TestFailure("expected up to date") }
            #expect(runs(dir) == 1)
            #expect(transcript.text.contains("image 5 is up to date"))

            // --force rebuilds.
            guard case .built = try builder.build(5, force: true) else { throw TestFailure("expected a build") }
            #expect(runs(dir) == 2)

            // A changed output file means a rebuild.
            try "tampered".write(toFile: "\(dir)/5/initrd.img", atomically: false, encoding: .utf8)
            #expect(!builder.isUpToDate(5, recipeHash: hash))
            guard case .built = try builder.build(5) else { throw TestFailure("expected a build") }
            #expect(runs(dir) == 3)

            // So does a changed build input (the agent), which changes the recipe hash.
            try "#!/bin/sh\necho agent 2\n".write(toFile: "\(dir)/agent/construir-agent", atomically: true, encoding: .utf8)
            let newHash = try builder.recipeHash(try builder.recipe(5))
            #expect(newHash != hash)
            #expect(!builder.isUpToDate(5, recipeHash: newHash))
            guard case let .built(rebuilt) = try builder.build(5) else { throw TestFailure("expected a build") }
            #expect(rebuilt.recipeSHA256 == newHash)
            #expect(runs(dir) == 4)
        }
    }

    /// Building writes only generated, ignored files: in a git checkout with the project's own
    /// .gitignore and a hand-written README, `git status` is clean after a build.
    @Test func buildingLeavesGitStatusClean() async throws {
        try await withTemporaryDirectory { checkout in
            let dir = "\(checkout)/images"
            try makeImagesDirectory(dir)
            let readme = "# Build images\n\nHand-written.\n"
            try readme.write(toFile: "\(dir)/README.md", atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: "\(Repository.root)/.gitignore", toPath: "\(checkout)/.gitignore")
            let environment = ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t",
                               "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"]
            let (initialized, _) = try await runTool(["git", "init", "-q"], in: checkout, environment: environment)
            #expect(initialized == 0)
            // The fake script's run counter is the test's, not the build's.
            try "/images/runs\n".write(toFile: "\(checkout)/.git/info/exclude", atomically: true, encoding: .utf8)
            for command in [["add", "-A"], ["commit", "-q", "-m", "recipes"]] {
                let (status, output) = try await runTool(["git"] + command, in: checkout, environment: environment)
                #expect(status == 0, "git \(command): \(output)")
            }

            guard case .built = try builder(dir, Transcript()).build(5) else { throw TestFailure("expected a build") }
            #expect(FileManager.default.fileExists(atPath: "\(dir)/5/image.json"))
            let (status, changes) = try await runTool(["git", "status", "--porcelain", "--untracked-files=all"],
                                                          in: checkout, environment: environment)
            #expect(status == 0)
            #expect(changes == "", "a build changed or added files git sees:\n\(changes)")
            #expect(try String(contentsOfFile: "\(dir)/README.md", encoding: .utf8) == readme)
        }
    }

    /// The project itself: no file of a built image is committed (a rebuild on a machine with
    /// newer Debian packages would otherwise modify it), and images/README.md holds no section
    /// that a build rewrites.
    @Test func theProjectTracksNoBuiltImageFile() async throws {
        let (status, tracked) = try await runTool(["git", "ls-files", "images"], in: Repository.root)
        guard status == 0 else { return }  // not a git checkout (a source tarball): nothing to check
        let built = tracked.split(separator: "\n").filter { path in
            let parts = path.split(separator: "/")
            return parts.count > 2 && Int(parts[1]) != nil
        }
        #expect(built.isEmpty, "tracked files of built images: \(built)")
        #expect(tracked.contains("images/recipes/1.yml"))
        let (_, ignored) = try await runTool(["git", "check-ignore", "images/1/packages.txt", "images/0/image.json"],
                                                  in: Repository.root)
        #expect(ignored == "images/1/packages.txt\nimages/0/image.json\n", "images/N/ must be ignored")
        let readme = try String(contentsOfFile: "\(Repository.images)/README.md", encoding: .utf8)
        #expect(!readme.contains("<!-- image"), "images/README.md still has a generated section")
        #expect(readme.contains("construir image list --packages"))
    }

    @Test func aKernelBuiltFromOptionsIsPartOfTheRecipeAndHandedToTheScript() async throws {
        try await withTemporaryDirectory { dir in
            try makeImagesDirectory(dir)
            let recipe = "\(dir)/recipes/5.yml"
            try String(contentsOfFile: recipe, encoding: .utf8)
                .replacingOccurrences(of: "  package: linux-image-amd64\n",
                                      with: "  package: linux-source-6.1\n  config: kernel/guest.config\n")
                .write(toFile: recipe, atomically: true, encoding: .utf8)
            let script = "\(dir)/fake-build.sh"
            try String(contentsOfFile: script, encoding: .utf8)
                .replacingOccurrences(of: "echo run >> \"$1/runs\"",
                                      with: "echo \"run $CONSTRUIR_KERNEL_PACKAGE $CONSTRUIR_KERNEL_CONFIG\" >> \"$1/runs\"")
                .write(toFile: script, atomically: true, encoding: .utf8)
            #expect(chmod(script, 0o755) == 0)
            let builder = builder(dir, Transcript())

            // Its inputs are the options and the kernel build script: both must exist.
            #expect(throws: (any Error).self) { try builder.recipeHash(try builder.recipe(5)) }
            try FileManager.default.createDirectory(atPath: "\(dir)/kernel", withIntermediateDirectories: true)
            try "CONFIG_PVH=y\n".write(toFile: "\(dir)/kernel/guest.config", atomically: true, encoding: .utf8)
            try "#!/bin/sh\n".write(toFile: "\(dir)/build-kernel.sh", atomically: true, encoding: .utf8)
            let hash = try builder.recipeHash(try builder.recipe(5))

            guard case .built = try builder.build(5) else { throw TestFailure("expected a build") }
            let runs = try String(contentsOfFile: "\(dir)/runs", encoding: .utf8)
            #expect(runs == "run linux-source-6.1 \(dir)/kernel/guest.config\n")

            // Changed options change the recipe hash: the image is rebuilt.
            try "CONFIG_PVH=y\nCONFIG_SMP=y\n".write(toFile: "\(dir)/kernel/guest.config", atomically: true, encoding: .utf8)
            let newHash = try builder.recipeHash(try builder.recipe(5))
            #expect(newHash != hash)
            #expect(!builder.isUpToDate(5, recipeHash: newHash))
        }
    }

    @Test func aFailingStepReportsTheToolsLastLines() async throws {
        try await withTemporaryDirectory { dir in
            try makeImagesDirectory(dir, scriptExit: 3)
            let transcript = Transcript()
            let error = #expect(throws: (any Error).self) { try builder(dir, transcript).build(5) }
            let message = "\(error.map { "\($0)" } ?? "")"
            #expect(message.contains("exited with status 3"), "\(message)")
            #expect(message.contains("fake-build: something broke"))
            #expect(transcript.text.contains("kernel and initramfs (fake-build.sh): failed in "))
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/5/image.json"))
        }
    }

    @Test func aRecipeMustBeThereAndNameItsIndex() async throws {
        try await withTemporaryDirectory { dir in
            try makeImagesDirectory(dir)
            let builder = builder(dir, Transcript())
            let missing = #expect(throws: (any Error).self) { try builder.build(7) }
            #expect("\(missing.map { "\($0)" } ?? "")".contains("recipes exist for: 5"))
            try FileManager.default.copyItem(atPath: "\(dir)/recipes/5.yml", toPath: "\(dir)/recipes/6.yml")
            let wrong = #expect(throws: (any Error).self) { try builder.build(6) }
            #expect("\(wrong.map { "\($0)" } ?? "")".contains("says `index: 5`, expected 6"))
        }
    }

    @Test func mmdebstrapGetsTheRecipe() throws {
        let recipe = try ImageRecipe.parse(ImageRecipeTests.valid)
        let builder = ImageBuilder(root: "/srv/images", progress: BuildProgress(prefix: "t", style: .silent))
        let arguments = builder.mmdebstrapArguments(recipe, rootfs: try #require(recipe.rootfs), target: "/tmp/root")
        #expect(arguments.first == "mmdebstrap")
        #expect(arguments.contains("--variant=apt"))
        #expect(arguments.contains("--include=make,gcc"))
        #expect(arguments.contains("--dpkgopt=path-exclude=/usr/share/man/*"))
        #expect(arguments.contains("--setup-hook=sync-in '/srv/images/.cache/rootfs-4-debs' /var/cache/apt/archives/"))
        #expect(Array(arguments.suffix(3)) == ["bookworm", "/tmp/root", "deb http://deb.debian.org/debian bookworm main"])
    }

    @Test func extraFilesAndRemovalsAreApplied() async throws {
        try await withTemporaryDirectory { dir in
            let images = "\(dir)/images", tree = "\(dir)/tree"
            try FileManager.default.createDirectory(atPath: "\(images)/agent", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(tree)/etc", withIntermediateDirectories: true)
            try "tool\n".write(toFile: "\(images)/agent/tool", atomically: true, encoding: .utf8)
            try "nameserver 10.0.0.1\n".write(toFile: "\(tree)/etc/resolv.conf", atomically: true, encoding: .utf8)
            // /etc/hostname is a link out of the tree: it is replaced, not written through.
            try "outside\n".write(toFile: "\(dir)/outside", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(tree)/etc/hostname", withDestinationPath: "\(dir)/outside")
            let recipe = try ImageRecipe.parse(ImageRecipeTests.valid)
            let builder = ImageBuilder(root: images, progress: BuildProgress(prefix: "t", style: .silent))
            try builder.customize(tree: tree, recipe: recipe)
            #expect(!FileManager.default.fileExists(atPath: "\(tree)/etc/resolv.conf"))
            #expect(try String(contentsOfFile: "\(tree)/etc/hostname", encoding: .utf8) == "box\n")
            #expect(try String(contentsOfFile: "\(dir)/outside", encoding: .utf8) == "outside\n")
            #expect(try String(contentsOfFile: "\(tree)/usr/local/bin/tool", encoding: .utf8) == "tool\n")
            let mode = try #require(FileManager.default.attributesOfItem(atPath: "\(tree)/usr/local/bin/tool")[.posixPermissions] as? Int)
            #expect(mode == 0o755)
        }
    }

    @Test func stagingTreesWithMountsInsideAreFound() {
        let mounts = """
        proc /proc proc rw 0 0
        proc /srv/images/.cache/build-1/rootfs/proc proc rw 0 0
        tmpfs /srv/images/.cache/build-1/root\\040fs/dev tmpfs rw 0 0
        tmpfs /srv/images/.cache/build-10 tmpfs rw 0 0
        """
        #expect(ImageBuilder.mountPoints(under: "/srv/images/.cache/build-1", mounts: mounts)
            == ["/srv/images/.cache/build-1/rootfs/proc", "/srv/images/.cache/build-1/root fs/dev"])
        #expect(ImageBuilder.mountPoints(under: "/tmp/nothing-here").isEmpty)
    }

    @Test func plainProgressIsLines() {
        let transcript = Transcript()
        let progress = BuildProgress(prefix: "construir image build 1", style: .plain, write: { transcript.append($0) })
        progress.begin(step: 2, of: 4, "root filesystem")
        progress.output("I: downloading packages with apt...")
        progress.output("   ")
        progress.end()
        progress.note("finished")
        let lines = transcript.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "construir image build 1: [2/4] root filesystem")
        #expect(lines[1] == "    I: downloading packages with apt...")
        #expect(lines[2] == "construir image build 1: [2/4] root filesystem: done in 0s")
        #expect(lines[3] == "construir image build 1: finished")
        #expect(lines.count == 5 && lines[4].isEmpty)
        #expect(!transcript.text.contains("\u{1B}"))
    }

    @Test func terminalProgressRedrawsOneLine() {
        let transcript = Transcript()
        let progress = BuildProgress(prefix: "b", style: .terminal, write: { transcript.append($0) })
        progress.begin(step: 1, of: 1, "squashfs")
        progress.output("working")
        progress.end()
        #expect(transcript.text.contains("\r\u{1B}[Kb: [1/1] squashfs  0s  working"))
        #expect(transcript.text.hasSuffix("\r\u{1B}[Kb: [1/1] squashfs: done in 0s\n"))
    }
}
