import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport

/// `run --secrets FILE`: read only when private, every value checked, never shown.
@Suite struct RunnerSecretsTests {
    private func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
    }

    @Test func aPrivateFileGivesItsValuesByNameAndItsDescriptionNamesOnly() async throws {
        try await withTemporaryDirectory { dir in
            try write("DEPLOY_TOKEN: abc'def-123\nSIGNING_KEY: |\n  line one\n  line two\n", to: "\(dir)/secrets.yml")
            let secrets = try RunnerSecrets.load("\(dir)/secrets.yml")
            #expect(secrets.names == ["DEPLOY_TOKEN", "SIGNING_KEY"])
            #expect(secrets.missing(["DEPLOY_TOKEN", "OTHER"]) == ["OTHER"])
            #expect(secrets.pairs(["SIGNING_KEY"]).map(\.value) == ["line one\nline two\n"])
            #expect(secrets.script(["DEPLOY_TOKEN"]) == "export DEPLOY_TOKEN='abc'\\''def-123'\nunset BASH_ENV\n")
            let shown = "\(secrets) \(String(reflecting: secrets))"
            #expect(!shown.contains("abc") && !shown.contains("line one"), "\(shown)")
        }
    }

    @Test func aFileOthersCanReadOrThatIsALinkIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            try write("TOKEN: abcdefgh\n", to: "\(dir)/open.yml", mode: 0o644)
            #expect { try RunnerSecrets.load("\(dir)/open.yml") } throws: { "\($0)".contains("chmod 600") }
            try write("TOKEN: abcdefgh\n", to: "\(dir)/real.yml")
            symlink("\(dir)/real.yml", "\(dir)/link.yml")
            #expect { try RunnerSecrets.load("\(dir)/link.yml") } throws: { "\($0)".contains("link.yml") }
            #expect { try RunnerSecrets.load("\(dir)/missing.yml") } throws: { "\($0)".contains("does not exist") }
        }
    }

    @Test(arguments: [
        ("TOKEN: abc\n", "shorter than 6 bytes"),
        ("1TOKEN: abcdefgh\n", "is not a secret name"),
        ("- abcdefgh\n", "mapping of NAME: value"),
        ("TOKEN: [a, b]\n", "single value"),
        ("TOKEN: 'abcdefgh\n", "not valid YAML"),
    ])
    func badFilesSayWhatIsWrongWithoutTheValue(text: String, reason: String) async throws {
        try await withTemporaryDirectory { dir in
            try write(text, to: "\(dir)/s.yml")
            #expect { try RunnerSecrets.load("\(dir)/s.yml") } throws: { "\($0)".contains(reason) && !"\($0)".contains("abcdefgh") }
        }
    }

    @Test func aManifestListsTheSecretsItNeeds() throws {
        let manifest = try JobManifest.parse(Array("secrets: [DEPLOY_TOKEN, SIGNING_KEY, DEPLOY_TOKEN]\n".utf8))
        #expect(manifest.secrets == ["DEPLOY_TOKEN", "SIGNING_KEY"])
        #expect(try JobManifest.parse(Array("secrets: ONE\n".utf8)).secrets == ["ONE"])
        #expect { try JobManifest.parse(Array("secrets: [\"a-b\"]\n".utf8)) } throws: { "\($0)".contains("not a secret's name") }
        #expect { try JobManifest.parse(Array("environment: {A: x}\nsecrets: [A]\n".utf8)) } throws: {
            "\($0)".contains("both in environment and in secrets")
        }
    }
}
