import ConstruirSystem
import Foundation
import JobModel
import Glibc
import Testing
import TestSupport
@testable import Hub

/// The hub's tokens file: secrets shown once and kept only as hashes, roles, revocation, and a
/// file nobody else can read or change.
@Suite struct HubTokenStoreTests {
    @Test func aTokenIsShownOnceAndOnlyItsHashIsKept() async throws {
        try await withTemporaryDirectory { dir in
            let store = HubTokenStore(path: "\(dir)/tokens.json")
            let secret = try store.add(name: "alice-laptop", role: .runner)
            #expect(secret.hasPrefix(HubTokenStore.secretPrefix))
            #expect(secret.utf8.count == HubTokenStore.secretPrefix.utf8.count + 64)
            let file = try String(contentsOfFile: "\(dir)/tokens.json", encoding: .utf8)
            #expect(!file.contains(secret.dropFirst(HubTokenStore.secretPrefix.count)), "the secret is not stored")
            #expect(file.contains(Hex.sha256(secret)))
            var st = stat()
            #expect(stat("\(dir)/tokens.json", &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600)
            #expect(stat("\(dir)/tokens.json.lock", &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600, "the lock beside it too")

            let tokens = try store.tokens()
            #expect(tokens.map(\.name) == ["alice-laptop"])
            #expect(HubTokenStore.authenticate(secret, among: tokens)?.role == .runner)
            #expect(HubTokenStore.authenticate(secret + "0", among: tokens) == nil)
            #expect(HubTokenStore.authenticate("", among: tokens) == nil)
        }
    }

    @Test func secretsDifferAndRolesAreKept() async throws {
        try await withTemporaryDirectory { dir in
            let store = HubTokenStore(path: "\(dir)/tokens.json")
            let runner = try store.add(name: "runner-1", role: .runner)
            let submitter = try store.add(name: "ci", role: .submitter)
            #expect(runner != submitter)
            let tokens = try store.tokens()
            #expect(HubTokenStore.authenticate(runner, among: tokens)?.name == "runner-1")
            #expect(HubTokenStore.authenticate(submitter, among: tokens)?.role == .submitter)
        }
    }

    @Test func aRevokedTokenAuthenticatesNothingAndKeepsItsName() async throws {
        try await withTemporaryDirectory { dir in
            let store = HubTokenStore(path: "\(dir)/tokens.json")
            let secret = try store.add(name: "bob", role: .runner)
            let other = try store.add(name: "carol", role: .runner)
            try store.revoke(name: "bob")
            let tokens = try store.tokens()
            #expect(HubTokenStore.authenticate(secret, among: tokens) == nil)
            #expect(HubTokenStore.authenticate(other, among: tokens)?.name == "carol")
            #expect(tokens.first { $0.name == "bob" }?.revoked != nil)
            let error = #expect(throws: ConstruirError.self) { try store.add(name: "bob", role: .runner) }
            #expect(error?.message.contains("already exists") == true)
            let missing = #expect(throws: ConstruirError.self) { try store.revoke(name: "dave") }
            #expect(missing?.code == .notFound)
        }
    }

    @Test(arguments: ["", ".hidden", "-flag", "a b", "a/b", "é", String(repeating: "x", count: 65)])
    func badNamesAreRefused(name: String) async throws {
        try await withTemporaryDirectory { dir in
            let store = HubTokenStore(path: "\(dir)/tokens.json")
            let error = #expect(throws: ConstruirError.self) { try store.add(name: name, role: .runner) }
            #expect(error?.code == .invalidArgument)
            #expect(!FileSystem.exists("\(dir)/tokens.json"), "nothing was written")
        }
    }

    @Test func aFileOthersCanReadOrWriteIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let path = "\(dir)/tokens.json"
            let store = HubTokenStore(path: path)
            let secret = try store.add(name: "erin", role: .runner)
            for mode: mode_t in [0o640, 0o604, 0o620, 0o666] {
                #expect(chmod(path, mode) == 0)
                let error = #expect(throws: ConstruirError.self) { try store.tokens() }
                #expect(error?.code == .untrustedPath, "mode \(String(mode, radix: 8))")
                #expect(error?.message.contains("chmod 600") == true)
                #expect(throws: ConstruirError.self) { try store.add(name: "mallory", role: .submitter) }
            }
            #expect(chmod(path, 0o600) == 0)
            #expect(HubTokenStore.authenticate(secret, among: try store.tokens())?.name == "erin")
            #expect(try store.tokens().count == 1, "no token was added through a refused file")
        }
    }

    @Test func aSymlinkOrSomethingElseIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let real = HubTokenStore(path: "\(dir)/real.json")
            _ = try real.add(name: "frank", role: .runner)
            #expect(symlink("\(dir)/real.json", "\(dir)/link.json") == 0)
            #expect(throws: ConstruirError.self) { try HubTokenStore(path: "\(dir)/link.json").tokens() }
            try "{\"version\": 9, \"tokens\": []}".write(toFile: "\(dir)/other.json", atomically: false, encoding: .utf8)
            #expect(chmod("\(dir)/other.json", 0o600) == 0)
            let error = #expect(throws: ConstruirError.self) { try HubTokenStore(path: "\(dir)/other.json").tokens() }
            #expect(error?.message.contains("is not a construir tokens file") == true)
            #expect(try HubTokenStore(path: "\(dir)/missing.json").tokens().isEmpty)
        }
    }
}
