import AsyncHTTPClient
import ConstruirSystem
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// One report of a job's state to where the repository wants it (`ReportTarget`): a commit
/// status on a forge, or a command. Throws when it did not go through, to be tried again.
package struct CommitStatusReport: Sendable {
    package var job: String
    /// `pending`, or the job's result status (`passed`, `failed`, ...).
    package var status: String
    package var commit: String
    package var ref: String
    package var link: String?

    package init(job: String, status: String, commit: String, ref: String, link: String?) {
        self.job = job
        self.status = status
        self.commit = commit
        self.ref = ref
        self.link = link
    }

    /// The commit status state for a job status; the one set Gitea, Forgejo and GitHub share.
    package static func forgeState(_ status: String) -> String {
        switch status {
        case "pending": "pending"
        case "passed", "passed_with_failures": "success"
        case "failed", "timed_out", "disputed": "failure"
        default: "error"
        }
    }

    package var description: String {
        status == "pending" ? "construir: \(job) queued" : "construir: \(job) \(status.replacingOccurrences(of: "_", with: " "))"
    }

    package func send(to target: ReportTarget, http: HTTPClient) async throws {
        switch target {
        case .forge(let forge): try await post(to: forge, http: http)
        case .command(let command): try await run(command)
        }
    }

    private func post(to forge: ReportTarget.Forge, http: HTTPClient) async throws {
        var body: [String: String] = ["state": Self.forgeState(status), "description": description, "context": forge.context]
        if let link { body["target_url"] = link }
        let url = forge.api.appendingPathComponent("repos").appendingPathComponent(forge.owner)
            .appendingPathComponent(forge.repository).appendingPathComponent("statuses").appendingPathComponent(commit)
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "token \(forge.token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "construir-watch")
        request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])))
        let response = try await http.execute(request, timeout: .seconds(30))
        let answer = try await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            // The forge's answer, not the request: the request carries the token.
            throw ConstruirError(.system, "the forge answered \(response.status.code) for \(url.absoluteString): \(String(buffer: answer).prefix(200))")
        }
    }

    private func run(_ command: String) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["CONSTRUIR_JOB"] = job
        environment["CONSTRUIR_STATUS"] = status
        environment["CONSTRUIR_COMMIT"] = commit
        environment["CONSTRUIR_REF"] = ref
        environment["CONSTRUIR_URL"] = link ?? ""
        // Started on the thread that waits for it: a spawn can wait out a moment of ETXTBSY.
        let environmentSet = environment
        let (termination, errors) = try await OwnThread.run("construir-watch-report") {
            let environment = environmentSet
            let child = try ChildProcess(["/bin/sh", "-c", command], environment: environment, output: .null, error: .collected)
            return (child.wait(timeout: .seconds(300)), child.errorOutput)
        }
        guard termination == .exited(0) else {
            throw ConstruirError(.system, "the report command \(termination): \(errors.prefix(200))")
        }
    }
}
