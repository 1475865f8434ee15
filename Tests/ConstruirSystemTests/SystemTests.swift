import ConstruirSystem
import Foundation
import Testing
import TestSupport

@Suite struct FileSystemTests {
    @Test func renameNoReplaceRefusesToOverwrite() async throws {
        try await withTemporaryDirectory { dir in
            try "a".write(toFile: "\(dir)/a", atomically: false, encoding: .utf8)
            try "b".write(toFile: "\(dir)/b", atomically: false, encoding: .utf8)
            #expect(throws: SystemError.self) { try FileSystem.renameNoReplace("\(dir)/a", "\(dir)/b") }
            #expect(try String(contentsOfFile: "\(dir)/b", encoding: .utf8) == "b")
            try FileSystem.renameNoReplace("\(dir)/a", "\(dir)/c")
            #expect(try String(contentsOfFile: "\(dir)/c", encoding: .utf8) == "a")
            do {
                try FileSystem.renameNoReplace("\(dir)/missing", "\(dir)/d")
                Issue.record("renaming a missing file succeeded")
            } catch let error as SystemError {
                #expect(error.errno == ENOENT)
                #expect(error.description.contains("missing"))
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func writeDurablyReplacesTheFileWithTheModeAndLeavesNoTemporary() async throws {
        try await withTemporaryDirectory { dir in
            let path = "\(dir)/state.json"
            try "old".write(toFile: path, atomically: false, encoding: .utf8)
            let large = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            try FileSystem.writeDurably(large, to: path, mode: 0o600)
            #expect(FileManager.default.contents(atPath: path) == large)
            let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(permissions == 0o600)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["state.json"])
            // A directory in the way of the rename: the error names it and the temporary is gone.
            try FileManager.default.createDirectory(atPath: "\(dir)/taken", withIntermediateDirectories: false)
            try "x".write(toFile: "\(dir)/taken/f", atomically: false, encoding: .utf8)
            #expect(throws: SystemError.self) { try FileSystem.writeDurably(Data("new".utf8), to: "\(dir)/taken") }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["state.json", "taken"])
        }
    }

    @Test func sparseFileReadsAsZeros() async throws {
        try await withTemporaryDirectory { dir in
            try FileSystem.createSparseFile("\(dir)/disk", size: 1 << 20)
            #expect(try FileSystem.size(of: "\(dir)/disk") == 1 << 20)
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/disk"))
            #expect(data.allSatisfy { $0 == 0 })
        }
    }
}

@Suite struct DirectoryWatcherTests {
    @Test func reportsFilesWrittenAndRenamedInButNotDirectories() async throws {
        try await withTemporaryDirectory { dir in
            let watcher = try DirectoryWatcher(directory: dir)
            try "x".write(toFile: "\(dir)/written.tar.xz", atomically: false, encoding: .utf8)
            try "y".write(toFile: "/\(dir)/../\((dir as NSString).lastPathComponent)-outside", atomically: false, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: "\(dir)-outside") }
            try FileManager.default.moveItem(atPath: "\(dir)-outside", toPath: "\(dir)/moved.tar.xz")
            var seen: [DirectoryWatcher.Event] = []
            for await event in watcher.events {
                seen.append(event)
                if seen.count == 2 { break }
            }
            #expect(seen == [.arrived("written.tar.xz"), .arrived("moved.tar.xz")])
            watcher.stop()
        }
    }

    @Test func stopFinishesTheStream() async throws {
        try await withTemporaryDirectory { dir in
            let watcher = try DirectoryWatcher(directory: dir)
            watcher.stop()
            var count = 0
            for await _ in watcher.events { count += 1 }
            #expect(count == 0)
        }
    }

    @Test func missingDirectoryIsAClearError() {
        #expect(throws: SystemError.self) { try DirectoryWatcher(directory: "/nonexistent/construir-queue") }
    }
}

/// `IdlePriority`: threads `OwnThread` starts run under SCHED_IDLE while it is on.
@Suite(.serialized) struct IdlePriorityTests {
    @Test func ownThreadsRunAtIdlePriorityOnlyWhileItIsOn() async throws {
        #expect(IdlePriority.policy != 0)
        let before = try await OwnThread.run("priority-off") { IdlePriority.currentPolicy() }
        IdlePriority.isEnabled = true
        let during = try await OwnThread.run("priority-on") { IdlePriority.currentPolicy() }
        IdlePriority.isEnabled = false
        let after = try await OwnThread.run("priority-off-again") { IdlePriority.currentPolicy() }
        #expect(before == 0)
        #expect(during == IdlePriority.policy)
        #expect(after == 0)
    }
}
