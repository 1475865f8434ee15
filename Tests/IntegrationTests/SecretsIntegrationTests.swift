import Foundation
import JobModel
import Runner
import Testing
import TestSupport

extension VMSuites {
/// `run --secrets`: a job gets the values it names on a disk of their own, and they appear
/// nowhere the runner writes: console.log, job_output.txt (extracted and archived), result.json
/// and the runner's log hold `[secret NAME]` instead.
@Suite(.serialized) struct SecretsIntegrationTests {
    static let repository = RunnerIntegrationTests.repository
    static let images = "\(repository)/images"
    /// Quotes, a space and a dollar sign: the value must reach the job as it is.
    static let value = #"Sup3r s3cret-'value"$HOME"#

    /// run-once with a short private TMPDIR (libvirt's socket paths); output and log together.
    private func runOnce(_ job: String, secrets: String, done: String) async throws -> (status: Int32, output: String) {
        var template = Array("/tmp/csec-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ConstruirTestError("mkdtemp failed: errno \(errno)") }
        let tmp = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        return try await runTool(["/bin/sh", "-c", #"exec "$0" "$@" 2>&1"#, try await construirBinary(repository: Self.repository), "run-once", job,
                                  "--done", done, "--images", Self.images, "--memory", "512M", "--timeout", "180s", "--secrets", secrets],
                                 environment: ["TMPDIR": tmp, "XDG_RUNTIME_DIR": ""])
    }

    /// Packs a job of `script` whose manifest is `manifest` into `DIR/NAME_i0.tar.xz`.
    private func pack(_ name: String, script: String, manifest: String, in dir: String) async throws -> String {
        let source = "\(dir)/\(name)-source"
        try FileManager.default.createDirectory(atPath: "\(source)/job", withIntermediateDirectories: true)
        try Data(script.utf8).write(to: URL(fileURLWithPath: "\(source)/job/construir"))
        chmod("\(source)/job/construir", 0o755)
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: "\(source)/job/construir.yml"))
        let (status, output) = try await runTool(["\(Self.repository)/jobs/make-job.sh", source, "\(dir)/\(name)_i0.tar.xz"])
        guard status == 0 else { throw ConstruirTestError("make-job.sh failed: \(output)") }
        return "\(dir)/\(name)_i0.tar.xz"
    }

    private func writeSecrets(in dir: String) throws -> String {
        let path = "\(dir)/secrets.yml"
        try Data("DEPLOY_TOKEN: '\(Self.value.replacingOccurrences(of: "'", with: "''"))'\nUNUSED_KEY: never-asked-for\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        return path
    }

    @Test func aJobUsesItsSecretAndNothingTheRunnerWritesHoldsIt() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let secrets = try writeSecrets(in: dir)
            // Printed whole, split across two writes 0.3 s apart (two reads of the console), straight
            // to the console, and as a hash that proves the job saw the exact value.
            let job = try await pack("secret", script: #"""
                #!/bin/bash
                echo "token: $DEPLOY_TOKEN"
                printf 'split: %s' "${DEPLOY_TOKEN:0:7}"; sleep 0.3; printf '%s\n' "${DEPLOY_TOKEN:7}"
                echo "console: $DEPLOY_TOKEN" > /dev/console
                echo "sha: $(printf '%s' "$DEPLOY_TOKEN" | sha256sum | cut -c1-64)"
                echo "unused: ${UNUSED_KEY:-unset}"

                """#, manifest: "secrets: [DEPLOY_TOKEN]\n", in: dir)
            let run = try await runOnce(job, secrets: secrets, done: "\(dir)/done")
            #expect(run.status == 0, "\(run.output)")
            #expect(!run.output.contains(Self.value), "the runner's output and log")
            let done = "\(dir)/done/secret"
            let result = try readResult(done)
            #expect(result.status == .passed, "\(result.error ?? "")")
            #expect(result.secrets?.names == ["DEPLOY_TOKEN"])
            #expect((result.secrets?.redacted ?? 0) >= 5, "three lines in console.log, two in job_output.txt at least")

            let console = try String(contentsOfFile: "\(done)/console.log", encoding: .utf8)
            let jobOutput = try String(contentsOfFile: "\(done)/output/job_output.txt", encoding: .utf8)
            let archived = try await runTool(["tar", "-xJOf", "\(done)/output.tar.xz", "job_output.txt"])
            let resultJSON = try String(contentsOfFile: "\(done)/result.json", encoding: .utf8)
            let hash = Hex.sha256(Self.value)
            for (what, text) in [("console.log", console), ("job_output.txt", jobOutput), ("the archive's job_output.txt", archived.output)] {
                #expect(!text.contains(Self.value), "\(what) holds the value")
                #expect(text.contains("token: [secret DEPLOY_TOKEN]"), "\(what): \(text)")
                #expect(text.contains("split: [secret DEPLOY_TOKEN]"), "\(what): \(text)")
                #expect(text.contains("sha: \(hash)"), "\(what): the job got another value")
                #expect(text.contains("unused: unset"), "\(what): a secret the job did not ask for reached it")
            }
            #expect(console.contains("console: [secret DEPLOY_TOKEN]"))
            #expect(!resultJSON.contains(Self.value))
            let left = try FileManager.default.contentsOfDirectory(atPath: done)
            #expect(!left.contains("secrets.img") && !left.contains("console.raw"), "\(left)")
        }
    }

    @Test func aJobAskingForASecretTheRunnerLacksEndsInErrorWithoutBooting() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let secrets = try writeSecrets(in: dir)
            let job = try await pack("lacking", script: "#!/bin/bash\necho ran\n", manifest: "secrets: [DEPLOY_TOKEN, SIGNING_KEY]\n", in: dir)
            let run = try await runOnce(job, secrets: secrets, done: "\(dir)/done")
            let result = try readResult("\(dir)/done/lacking")
            #expect(result.status == .error, "\(run.output)")
            #expect(result.error?.contains("does not have: SIGNING_KEY") == true, "\(result.error ?? "")")
            #expect(result.durations.vmStart == nil, "it booted")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/done/lacking/console.log"))
        }
    }
}
}
