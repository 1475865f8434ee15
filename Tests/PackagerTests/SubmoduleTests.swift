import ConstruirSystem
import Foundation
import Packager
import Testing
import TestSupport

@Suite struct SubmoduleTests {
    /// `top` with the submodule `lib/dep` (named `dep-module`), which has its own submodule
    /// `inner`.
    private func makeRepositories(in dir: String) async throws -> String {
        try await makeRepository(at: "\(dir)/innermost", files: ["deep.txt": "deep\n"])
        try await makeRepository(at: "\(dir)/dep", files: ["dep.h": "#define DEP 1\n", "tools/x.sh": "echo x\n"], executables: ["tools/x.sh"])
        try await git(["submodule", "add", "-q", "\(dir)/innermost", "inner"], in: "\(dir)/dep")
        try await git(["commit", "-q", "-m", "inner"], in: "\(dir)/dep")
        let top = "\(dir)/top"
        try await makeRepository(at: top, files: ["main.c": "#include \"lib/dep/dep.h\"\n"])
        try await git(["submodule", "add", "-q", "--name", "dep-module", "\(dir)/dep", "lib/dep"], in: top)
        try await git(["submodule", "update", "-q", "--init", "--recursive"], in: top)
        try await git(["commit", "-q", "-m", "dep"], in: top)
        return top
    }

    @Test func submodulesAreSkippedUnlessAsked() async throws {
        try await withTemporaryDirectory { dir in
            let top = try await makeRepositories(in: dir)
            let skipped = try package(top, into: "\(dir)/q1")
            #expect(skipped.skippedSubmodules == ["lib/dep"])
            let plain = try await names(skipped.files[0])
            #expect(plain.contains("repo/.gitmodules"))
            #expect(!plain.contains { $0.hasPrefix("repo/lib") })

            let included = try package(top, into: "\(dir)/q2", recurseSubmodules: true)
            #expect(included.skippedSubmodules.isEmpty)
            let all = try await listing(included.files[0])
            #expect(all.contains { $0.hasPrefix("-rw-r--r-- 0/0") && $0.hasSuffix(" repo/lib/dep/dep.h") })
            #expect(all.contains { $0.hasPrefix("-rwxr-xr-x 0/0") && $0.hasSuffix(" repo/lib/dep/tools/x.sh") })
            #expect(all.contains { $0.hasSuffix(" repo/lib/dep/inner/deep.txt") })
            #expect(all.contains { $0.hasPrefix("drwxr-xr-x 0/0") && $0.hasSuffix(" repo/lib/") })
            #expect(!all.contains { $0.contains(".git/") || $0.hasSuffix("/.git") })
            try await extract(included.files[0], to: "\(dir)/x")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/lib/dep/inner/deep.txt", encoding: .utf8) == "deep\n")
        }
    }

    @Test func theRecordedCommitIsUsedNotTheCheckout() async throws {
        try await withTemporaryDirectory { dir in
            let top = try await makeRepositories(in: dir)
            // Move the submodule's checkout ahead without recording it in the top repository.
            try writeFile("\(top)/lib/dep/dep.h", "#define DEP 2\n")
            try await git(["commit", "-q", "-am", "ahead"], in: "\(top)/lib/dep")
            let result = try package(top, into: "\(dir)/q", recurseSubmodules: true)
            try await extract(result.files[0], to: "\(dir)/x")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/lib/dep/dep.h", encoding: .utf8) == "#define DEP 1\n")
        }
    }

    @Test func aCloneWithoutSubmoduleObjectsIsRefusedWithAHint() async throws {
        try await withTemporaryDirectory { dir in
            let top = try await makeRepositories(in: dir)
            try await git(["clone", "-q", top, "\(dir)/clone"], in: dir)
            let message = expectFailure(.notFound) { try package("\(dir)/clone", into: "\(dir)/q", recurseSubmodules: true) }
            #expect(message.contains("submodule lib/dep"))
            #expect(message.contains("git submodule update --init --recursive"))
            #expect(try dotfiles(in: "\(dir)/q").isEmpty)

            // After fetching the submodules (into .git/modules), the clone packages the same bytes.
            try await git(["submodule", "update", "-q", "--init", "--recursive"], in: "\(dir)/clone")
            try await git(["config", "remote.origin.url", top], in: top)
            let original = try package(top, into: "\(dir)/q-top", recurseSubmodules: true)
            let clone = try package("\(dir)/clone", into: "\(dir)/q-clone", recurseSubmodules: true)
            #expect(try await names(clone.files[0]).contains("repo/lib/dep/inner/deep.txt"))
            #expect(original.environment == clone.environment)
            #expect(try bytes(at: original.files[0]) == (try bytes(at: clone.files[0])))
        }
    }
}
