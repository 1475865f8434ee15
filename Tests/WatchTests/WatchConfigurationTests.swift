import ConstruirSystem
import Foundation
import Testing
import TestSupport
import Watch

@Suite struct WatchConfigurationTests {
    private func parse(_ text: String, base: String = "/srv") throws -> WatchConfiguration {
        try WatchConfiguration.parse(text, file: "repos.yml", base: base)
    }

    private func problem(_ text: String, base: String = "/srv") -> String {
        do {
            _ = try parse(text, base: base)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func readsEveryKey() throws {
        let configuration = try parse("""
            repositories:
              - url: https://git.example.org/team/app.git
                branches: [main, "release/*"]
                tags: "v*"
                images: [0, 1]
                file_exists: construir
                directory_exists: [src]
                environment: {MODE: ci}
                report: {command: "echo $CONSTRUIR_STATUS"}
              - url: mirror/lib
                branches: main
            """)
        let app = configuration.repositories[0]
        #expect(app.name == "app")
        #expect(app.images == [0, 1])
        #expect(app.fileExists == ["construir"] && app.directoryExists == ["src"])
        #expect(app.environment.map(\.description) == ["MODE=ci"])
        #expect(app.report == .command("echo $CONSTRUIR_STATUS"))
        #expect(app.watches("refs/heads/main") && app.watches("refs/heads/release/2.0") && app.watches("refs/tags/v1.0"))
        #expect(!app.watches("refs/heads/dev") && !app.watches("refs/heads/release/2.0/x") && !app.watches("refs/pull/1/head"))
        #expect(configuration.repositories[1].url == "/srv/mirror/lib")
        #expect(configuration.repositories[1].images == [0])
        #expect(app.key != configuration.repositories[1].key)
    }

    @Test func namesEachMistake() {
        #expect(problem("repositories: [url: x") .contains("is not valid YAML"))
        #expect(problem("repos: []").contains("unknown key 'repos'"))
        #expect(problem("repositories:\n  - url: /r\n    branch: main").contains("repository 1: unknown key 'branch'"))
        #expect(problem("repositories:\n  - url: /r").contains("watches no ref"))
        #expect(problem("repositories:\n  - branches: main").contains("needs url:"))
        #expect(problem("repositories:\n  - url: /r\n    branches: ['/main']").contains("branches: '/main' is absolute"))
        #expect(problem("repositories:\n  - url: /r\n    branches: ['ma[in']").contains("unclosed '['"))
        #expect(problem("repositories:\n  - url: /r\n    tags: ['v 1']").contains("tags: 'v 1'"))
        #expect(problem("repositories:\n  - url: 'gopher://x/r'\n    branches: main").contains("scheme git does not fetch from"))
        #expect(problem("repositories:\n  - url: 'http://'\n    branches: main").contains("is not a URL"))
        #expect(problem("repositories:\n  - url: 'ext::sh -c x'\n    branches: main").contains("transport helper"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n    images: [x]").contains("images: 'x'"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n    file_exists: ../x").contains("file_exists: '../x'"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n    environment: {'1A': x}").contains("environment:"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n  - url: /r\n    branches: dev").contains("listed twice"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n    report: {forge: gitlab}").contains("'gitlab' is not one of"))
        #expect(problem("repositories:\n  - url: /r\n    branches: main\n    report: {command: x, forge: github}").contains("goes alone"))
    }

    @Test func forgeReportChecksItsTokenFile() async throws {
        try await withTemporaryDirectory { directory in
            let report = "report: {forge: gitea, api: 'https://git.example.org/api/v1', token_file: token, context: ci}"
            let text = "repositories:\n  - url: https://git.example.org/team/app.git\n    branches: main\n    \(report)"
            #expect(problem(text, base: directory).contains("report.token_file: the token file \(directory)/token does not exist"))
            try "s3cret\n".write(toFile: "\(directory)/token", atomically: true, encoding: .utf8)
            chmod("\(directory)/token", 0o644)
            #expect(problem(text, base: directory).contains("must be private to its owner (chmod 600)"))
            chmod("\(directory)/token", 0o600)
            let repository = try parse(text, base: directory).repositories[0]
            guard case .forge(let forge) = repository.report else { Issue.record("no forge report"); return }
            #expect(forge.token == "s3cret" && forge.owner == "team" && forge.repository == "app" && forge.context == "ci")
            #expect(problem(text.replacingOccurrences(of: "'https://git.example.org/api/v1'", with: "ftp://x"), base: directory)
                .contains("report.api: 'ftp://x' is not an http(s) URL"))
        }
    }

    @Test func anImageTheImagesDirectoryLacksIsAnErrorAtStart() async throws {
        try await withTemporaryDirectory { directory in
            try FileManager.default.createDirectory(atPath: "\(directory)/recipes", withIntermediateDirectories: true)
            try "{}".write(toFile: "\(directory)/recipes/0.yml", atomically: true, encoding: .utf8)
            let configuration = try parse("repositories:\n  - url: /r\n    branches: main\n    images: [0, 1]")
            do {
                try Watcher.checkImages(configuration, in: directory)
                Issue.record("image 1 was accepted")
            } catch {
                #expect("\(error)" == "/r asks for build image 1, which \(directory) does not have (it has 0)")
            }
            try Watcher.checkImages(try parse("repositories:\n  - url: /r\n    branches: main"), in: directory)
        }
    }

    @Test func ownerAndRepositoryFromURLs() {
        #expect(ReportTarget.ownerAndRepository(of: "https://codeberg.org/me/tool.git")! == ("me", "tool"))
        #expect(ReportTarget.ownerAndRepository(of: "git@github.com:me/tool.git")! == ("me", "tool"))
        #expect(ReportTarget.ownerAndRepository(of: "https://x.org/tool") == nil)
    }
}
