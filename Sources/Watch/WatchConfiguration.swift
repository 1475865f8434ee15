import ConstruirSystem
import Foundation
import HubClient
import JobModel
import Yams

/// The repos file `construir watch --repos FILE` reads (docs/watch.md):
///
///     repositories:
///       - url: https://git.example.org/team/app.git
///         branches: [main, "release/*"]
///         tags: ["v*"]
///
/// Every mistake (bad YAML, an unknown key, a bad glob, a token file that others may read) is
/// an error naming the file, the entry and the key, before anything is polled.
package struct WatchConfiguration: Sendable, Equatable {
    package var repositories: [WatchRepository]

    /// Reads and checks `path`; relative paths in it (a local repository, a token file) are
    /// relative to the file's directory.
    package static func load(_ path: String) throws(ConstruirError) -> WatchConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConstruirError(.notFound, "cannot read the repos file \(path)")
        }
        let base = (FileSystem.absolute(path) as NSString).deletingLastPathComponent
        return try parse(text, file: path, base: base)
    }

    package static func parse(_ text: String, file: String, base: String) throws(ConstruirError) -> WatchConfiguration {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw ConstruirError(.invalidArgument, "\(file) is not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw ConstruirError(.invalidArgument, "\(file) must be a mapping with repositories:") }
        for (key, _) in mapping where key.string != "repositories" {
            throw ConstruirError(.invalidArgument, "\(file): unknown key '\(key.string ?? "?")' (the file has only repositories:)")
        }
        guard let list = mapping["repositories"]?.sequence, !list.isEmpty else {
            throw ConstruirError(.invalidArgument, "\(file): repositories: must be a list of at least one repository")
        }
        var repositories: [WatchRepository] = []
        for (index, node) in list.enumerated() {
            let entry = try WatchEntryReader(file: file, index: index, base: base).repository(node)
            if repositories.contains(where: { $0.url == entry.url }) {
                throw ConstruirError(.invalidArgument, "\(file): repository \(index + 1): \(entry.url) is listed twice")
            }
            repositories.append(entry)
        }
        return WatchConfiguration(repositories: repositories)
    }
}

/// Reads one entry of the repos file, naming it in every error.
struct WatchEntryReader {
    let file: String
    let index: Int
    let base: String

    static let keys: Set<String> = ["url", "branches", "tags", "images", "file_exists", "directory_exists", "environment", "report"]

    func repository(_ node: Node) throws(ConstruirError) -> WatchRepository {
        guard let mapping = node.mapping else { throw invalid("must be a mapping with url:") }
        var fields: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string, Self.keys.contains(key) else {
                throw invalid("unknown key '\(keyNode.string ?? "?")' (known: \(Self.keys.sorted().joined(separator: ", ")))")
            }
            fields[key] = value
        }
        guard let urlText = fields["url"]?.scalar?.string, !urlText.isEmpty else { throw invalid("needs url: (a URL git can fetch, or a path)") }
        var repository = WatchRepository(url: try url(urlText))
        repository.branches = try selection(fields["branches"], "branches")
        repository.tags = try selection(fields["tags"], "tags")
        if repository.branches.patterns.isEmpty && repository.tags.patterns.isEmpty {
            throw invalid("watches no ref: give branches: or tags: (globs)")
        }
        if let node = fields["images"] { repository.images = try images(node) }
        repository.fileExists = try paths(fields["file_exists"], "file_exists")
        repository.directoryExists = try paths(fields["directory_exists"], "directory_exists")
        if let node = fields["environment"] { repository.environment = try environment(node) }
        if let node = fields["report"] { repository.report = try WatchReportReader(entry: self).report(node, url: repository.url) }
        return repository
    }

    func invalid(_ reason: String) -> ConstruirError {
        ConstruirError(.invalidArgument, "\(file): repository \(index + 1): \(reason)")
    }

    /// A URL with a scheme or scp-like `host:path` as given; a local path made absolute.
    private func url(_ text: String) throws(ConstruirError) -> String {
        if text.contains("://") {
            guard let parsed = URL(string: text), parsed.host != nil || parsed.scheme == "file" else { throw invalid("url: '\(text)' is not a URL") }
            guard ["http", "https", "git", "ssh", "file"].contains(parsed.scheme ?? "") else {
                throw invalid("url: '\(text)' has a scheme git does not fetch from (http, https, git, ssh, file)")
            }
            return text
        }
        if text.hasPrefix("-") { throw invalid("url: '\(text)' starts with '-'") }
        // git's transport::address form (ext:: runs a command) is no repository location.
        if text.contains("::") { throw invalid("url: '\(text)' names a git transport helper (TRANSPORT::ADDRESS); give a URL or a path") }
        if !text.hasPrefix("/"), let colon = text.firstIndex(of: ":"), !text[..<colon].contains("/") { return text }
        return text.hasPrefix("/") ? text : "\(base)/\(text)"
    }

    func strings(_ node: Node?, _ key: String) throws(ConstruirError) -> [String] {
        guard let node else { return [] }
        if let single = node.scalar?.string { return [single] }
        guard let list = node.sequence else { throw invalid("\(key): must be a value or a list of values") }
        var out: [String] = []
        for item in list {
            guard let text = item.scalar?.string else { throw invalid("\(key): holds something that is not a single value") }
            out.append(text)
        }
        return out
    }

    private func selection(_ node: Node?, _ key: String) throws(ConstruirError) -> RefSelection {
        do { return try RefSelection(try strings(node, key), what: key) } catch {
            throw invalid(error.message)
        }
    }

    private func images(_ node: Node) throws(ConstruirError) -> [Int] {
        let list = try strings(node, "images")
        var out: [Int] = []
        for text in list {
            guard let index = Int(text), (0...999_999).contains(index) else { throw invalid("images: '\(text)' is not an image index (0, 1, ...)") }
            guard !out.contains(index) else { throw invalid("images: \(index) is listed twice") }
            out.append(index)
        }
        guard !out.isEmpty else { throw invalid("images: must list at least one image") }
        return out
    }

    private func paths(_ node: Node?, _ key: String) throws(ConstruirError) -> [String] {
        let list = try strings(node, key)
        for path in list where path.isEmpty || path.hasPrefix("/") || path.split(separator: "/").contains("..") {
            throw invalid("\(key): '\(path)' must be a path relative to the repository's root, without '..'")
        }
        return list.map { $0.hasPrefix("./") ? String($0.dropFirst(2)) : $0 }
    }

    private func environment(_ node: Node) throws(ConstruirError) -> [EnvironmentVariable] {
        guard let mapping = node.mapping else { throw invalid("environment: must be a mapping of NAME: value") }
        var out: [EnvironmentVariable] = []
        for (nameNode, valueNode) in mapping {
            guard let name = nameNode.string, let value = valueNode.scalar?.string else {
                throw invalid("environment: '\(nameNode.string ?? "?")' must be a name with a single value")
            }
            do { out.append(try EnvironmentVariable(name: name, value: value)) } catch {
                throw invalid("environment: \(error.message)")
            }
        }
        return out
    }
}
