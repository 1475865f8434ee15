import ConstruirSystem
import Foundation
import Testing
import TestSupport

@Suite struct PrivateDirectoryTests {
    /// The uid of `nobody`, which tests running as root plant directories as.
    static let nobody: uid_t = 65534

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        _ = lstat(path, &st)
        return st.st_mode & 0o7777
    }

    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as ConstruirError {
            return error.code == .untrustedPath ? error.message : "wrong code \(error.code): \(error.message)"
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func createsMissingDirectoriesMode0700() async throws {
        try await withTemporaryDirectory { dir in
            try PrivateDirectory.make("\(dir)/a/b")
            #expect(Self.mode("\(dir)/a") == 0o700)
            #expect(Self.mode("\(dir)/a/b") == 0o700)
            try PrivateDirectory.make("\(dir)/a/b")  // its own, again: fine
        }
    }

    @Test func refusesADirectoryAnotherUserOwns() async throws {
        guard geteuid() == 0 else { return }  // planting as another user needs root
        try await withTemporaryDirectory { dir in
            let planted = "\(dir)/construir-0"
            try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: false)
            chmod(planted, 0o700)
            #expect(chown(planted, Self.nobody, Self.nobody) == 0)
            let message = try #require(Self.refusal { try PrivateDirectory.make(planted) })
            #expect(message.contains(planted) && message.contains("uid 65534"), "\(message)")
            // Nor anything below it, though it is not writable by others.
            #expect(Self.refusal { try PrivateDirectory.make("\(planted)/once-1") } != nil)
            #expect(try FileManager.default.contentsOfDirectory(atPath: planted).isEmpty)
        }
    }

    @Test func refusesWritableDirectoriesAndSymlinks() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/open", withIntermediateDirectories: false)
            chmod("\(dir)/open", 0o777)
            let open = try #require(Self.refusal { try PrivateDirectory.make("\(dir)/open") })
            #expect(open.contains("\(dir)/open") && open.contains("writable by group or others"), "\(open)")
            // A world-writable directory that is not sticky cannot hold one either.
            #expect(Self.refusal { try PrivateDirectory.make("\(dir)/open/mine") } != nil)
            #expect(!FileSystem.exists("\(dir)/open/mine"))

            try FileManager.default.createDirectory(atPath: "\(dir)/real", withIntermediateDirectories: false)
            chmod("\(dir)/real", 0o700)
            #expect(symlink("\(dir)/real", "\(dir)/link") == 0)
            let link = try #require(Self.refusal { try PrivateDirectory.make("\(dir)/link") })
            #expect(link.contains("symbolic link"), "\(link)")
        }
    }

    @Test func aStickyWorldWritableParentIsFine() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/tmp", withIntermediateDirectories: false)
            chmod("\(dir)/tmp", 0o1777)
            try PrivateDirectory.make("\(dir)/tmp/construir-1")
            #expect(Self.mode("\(dir)/tmp/construir-1") == 0o700)
        }
    }

    @Test func insideATrustedDirectoryOnlyThePathItselfIsChecked() async throws {
        try await withTemporaryDirectory { dir in
            // A queue a team shares: its state directory's files are still this user's own.
            try FileManager.default.createDirectory(atPath: "\(dir)/shared", withIntermediateDirectories: false)
            chmod("\(dir)/shared", 0o775)
            try PrivateDirectory.makeInside("\(dir)/shared/state/warm")
            #expect(Self.mode("\(dir)/shared/state/warm") == 0o700)
            try PrivateDirectory.makeInside("\(dir)/shared/state/warm")  // its own, again: fine

            chmod("\(dir)/shared/state/warm", 0o777)
            #expect(Self.refusal { try PrivateDirectory.makeInside("\(dir)/shared/state/warm") }?.contains("writable by group or others") == true)
            #expect(symlink("\(dir)/shared/state", "\(dir)/shared/state/link") == 0)
            #expect(Self.refusal { try PrivateDirectory.makeInside("\(dir)/shared/state/link") }?.contains("symbolic link") == true)
        }
    }

    @Test func theRuntimeBasePrefersXDGRuntimeDir() {
        #expect(PrivateDirectory.runtimeBase(environment: ["XDG_RUNTIME_DIR": "/run/user/7", "TMPDIR": "/t"]) == "/run/user/7/construir")
        #expect(PrivateDirectory.runtimeBase(environment: ["TMPDIR": "/t"]) == "/t/construir-\(geteuid())")
        #expect(PrivateDirectory.runtimeBase(environment: ["TMPDIR": "relative", "XDG_RUNTIME_DIR": ""]) == "/tmp/construir-\(geteuid())")
    }
}
