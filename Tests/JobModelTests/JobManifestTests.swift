import ConstruirSystem
import Testing
@testable import JobModel

@Suite struct JobManifestTests {
    private func parse(_ text: String) throws(ConstruirError) -> JobManifest { try JobManifest.parse(Array(text.utf8)) }

    @Test func everyFieldParses() throws {
        let manifest = try parse("""
            timeout: 20m
            memory: 2G
            cpus: 2
            output_size: 500M
            replicas: 3
            environment:
              MODE: release
              QUOTE: "it's $HOME `x`"
            """)
        #expect(manifest.timeout == .seconds(1200))
        #expect(manifest.memoryBytes == 2 << 30)
        #expect(manifest.cpus == 2)
        #expect(manifest.outputSize == 500 << 20)
        #expect(manifest.replicas == 3)
        #expect(manifest.environment.map(\.0) == ["MODE", "QUOTE"])
        #expect(manifest.environmentScript == "export MODE='release'\nexport QUOTE='it'\\''s $HOME `x`'\nunset BASH_ENV\n")
        #expect(try parse("") == JobManifest())
        #expect(try parse("timeout: 90").timeout == .seconds(90))
    }

    @Test(arguments: [
        ("timeuot: 5m", "unknown field 'timeuot'"),
        ("- a\n- b", "must be a mapping"),
        ("timeout: soon", "timeout"),
        ("cpus: 0", "cpus"),
        ("replicas: 0", "replicas must be a whole number from 1 to 16"),
        ("replicas: 17", "replicas must be"),
        ("cpus: [1, 2]", "single value"),
        ("environment:\n  1BAD: x", "not a variable name"),
        ("environment: [a]", "mapping of NAME"),
        ("memory: {a: 1}", "single value"),
        ("key: [unclosed", "not valid YAML"),
    ])
    func mistakesAreNamed(text: String, reason: String) {
        do throws(ConstruirError) {
            _ = try parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.description.contains("job/construir.yml"))
        }
    }

    @Test func anImageDigestPinsTheJob() throws {
        let digest = "3f5c" + String(repeating: "0123456789abcdef", count: 3) + "0123456789ab"
        #expect(digest.count == 64)
        #expect(try parse("image_digest: \(digest)").imageDigest == digest)
        #expect(try parse("image_digest: \"\(digest)\"\ntimeout: 5m").imageDigest == digest)
        // Only the digest's text form is accepted, with a message that says what is expected.
        for bad in [String(digest.dropLast()), digest + "0", digest.uppercased(), "sha256:\(digest.dropFirst(7))", "1"] {
            do throws(ConstruirError) {
                _ = try parse("image_digest: \(bad)")
                Issue.record("accepted: \(bad)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.description.contains("job/construir.yml image_digest must be 64 lowercase hex digits"), "\(error)")
                #expect(error.description.contains(bad), "\(error)")
            }
        }
        do throws(ConstruirError) {
            _ = try parse("image_digest: [a]")
            Issue.record("accepted a list")
        } catch {
            #expect(error.description.contains("image_digest must be a single value"))
        }
        // A job without one runs on whatever image N is.
        #expect(try parse("timeout: 5m").imageDigest == nil)
    }

    @Test func stagesParseInTheirRunOrder() throws {
        let manifest = try parse("""
            stages:
              - name: build
                script: [./configure, make]
              - name: lint
                script: make lint
                allow_failure: true
              - name: prepare
                script:
                  - apt-get --version
                artifacts: [build/*.log, "reports/**"]
            """)
        #expect(manifest.stages.map(\.name) == ["build", "lint", "prepare"])
        #expect(JobStage.runOrder(manifest.stages).map(\.name) == ["prepare", "build", "lint"])
        #expect(manifest.stages[0].script == ["./configure", "make"])
        #expect(manifest.stages[1].script == ["make lint"] && manifest.stages[1].allowFailure)
        #expect(!manifest.stages[0].allowFailure)
        #expect(manifest.stages[2].artifacts == ["build/*.log", "reports/**"])
    }

    @Test(arguments: [
        ("stages: make", "stages must be a list"),
        ("stages: []", "1 to 20 stages"),
        ("stages: [{script: [make]}]", "stages[0] needs a name"),
        ("stages: [{name: build}]", "stage build needs a script"),
        ("stages: [{name: 'a b', script: [x]}]", "stages[0].name must be"),
        ("stages: [{name: a, script: [x]}, {name: a, script: [y]}]", "two stages are named a"),
        ("stages: [{name: a, script: [x], allow_fail: true}]", "unknown field 'allow_fail'"),
        ("stages: [{name: a, script: [x], allow_failure: maybe}]", "allow_failure must be true or false"),
        ("stages: [{name: a, script: [x], artifacts: [../etc]}]", "must be a relative path"),
        ("stages: [{name: a, script: [x], artifacts: [/etc/passwd]}]", "must be a relative path"),
        ("stages: [{name: a, script: [{x: 1}]}]", "must be text or a list of text"),
    ])
    func badStagesAreRefusedWithTheReason(text: String, reason: String) {
        #expect {
            try parse(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }
}
