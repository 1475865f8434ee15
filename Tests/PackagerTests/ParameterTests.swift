import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport

/// `params:` in construir.yml and `construir package -p`: checked before anything is written,
/// and each value a variable of the job.
@Suite struct ParameterTests {
    private let manifest = """
        params:
          - name: MODE
            description: what to build
            choices: [debug, release]
            default: release
          - name: TARGET
            description: the make target

        """

    @Test func valuesAreCheckedAndBecomeTheJobsVariables() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["construir.yml": manifest])
            let made = try package(repo, into: "\(dir)/queue", parameters: [try EnvironmentVariable(name: "TARGET", value: "all; rm -rf /")])
            let variables = Dictionary(uniqueKeysWithValues: made.environment.map { ($0.name, $0.value) })
            #expect(variables["MODE"] == "release", "the default")
            #expect(variables["TARGET"] == "all; rm -rf /", "a value is data, never code")
            let script = try await wrapper(made.files[0])
            #expect(script.contains("export TARGET='all; rm -rf /'"))

            let debug = try package(repo, into: "\(dir)/debug", parameters: [try .init(name: "MODE", value: "debug"), try .init(name: "TARGET", value: "t")])
            #expect(debug.environment.contains(try .init(name: "MODE", value: "debug")))
        }
    }

    @Test func mistakesAreRefusedBeforeAnythingIsWritten() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["construir.yml": manifest])
            let cases: [([EnvironmentVariable], String)] = [
                ([], "parameter TARGET (the make target) is required"),
                ([try .init(name: "TARGET", value: "t"), try .init(name: "MODE", value: "fast")], "not one of its choices (debug, release)"),
                ([try .init(name: "TARGET", value: "t"), try .init(name: "COLOR", value: "red")], "-p COLOR: no such parameter (known: MODE, TARGET)"),
                ([try .init(name: "TARGET", value: "t"), try .init(name: "TARGET", value: "u")], "-p TARGET is given twice"),
            ]
            for (given, reason) in cases {
                #expect {
                    try package(repo, into: "\(dir)/queue", parameters: given)
                } throws: { "\($0)".contains(reason) }
            }
            #expect {
                try package(repo, into: "\(dir)/queue", environment: [try .init(name: "MODE", value: "debug")], parameters: [try .init(name: "TARGET", value: "t")])
            } throws: { "\($0)".contains("MODE is a parameter: set it with -p MODE=VALUE") }
            let written = (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue")) ?? []
            #expect(!written.contains { $0.hasSuffix(".tar.xz") }, "nothing is queued: \(written)")

            let plain = "\(dir)/plain"
            try await makeRepository(at: plain)
            #expect {
                try package(plain, into: "\(dir)/queue", parameters: [try .init(name: "MODE", value: "debug")])
            } throws: { "\($0)".contains("construir.yml declares no params:") }
        }
    }

    @Test(arguments: [
        ("params: MODE\n", "params must be a list"),
        ("params: [{name: 1x}]\n", "'1x' is not a variable name"),
        ("params: [{name: A}, {name: A}]\n", "A is declared twice"),
        ("params: [{name: A, choices: [x], default: y}]\n", "the default of A, 'y', is not one of its choices"),
        ("params: [{name: A, color: red}]\n", "unknown field 'color'"),
        ("params: [{name: A, choices: []}]\n", "params.choices must be a non-empty list"),
    ])
    func badDeclarationsAreRefused(text: String, reason: String) {
        #expect {
            try JobManifest.parse(Array(text.utf8))
        } throws: { "\($0)".contains(reason) }
    }
}

/// `construir package --tag`: the job's `tags:`, added to the repository's own.
@Suite struct PackagedTagTests {
    @Test func tagsAreAddedToTheRepositorysOwnOnce() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["construir.yml": "tags: [gpu]\ntimeout: 5m\n"])
            let made = try package(repo, into: "\(dir)/queue", tags: ["owner:alice", "gpu"])
            try await extract(made.files[0], to: "\(dir)/scratch")
            let manifest = try JobManifest.parse(try bytes(at: "\(dir)/scratch/job/construir.yml"))
            #expect(manifest.tags == ["gpu", "owner:alice"])
            #expect(manifest.timeout == .seconds(300), "the repository's fields come through")

            let plain = "\(dir)/plain"
            try await makeRepository(at: plain)
            let tagged = try package(plain, into: "\(dir)/queue2", tags: ["arm"])
            try await extract(tagged.files[0], to: "\(dir)/scratch2")
            #expect(try JobManifest.parse(try bytes(at: "\(dir)/scratch2/job/construir.yml")).tags == ["arm"])
        }
    }
}
