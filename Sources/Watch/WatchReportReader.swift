import ConstruirSystem
import Foundation
import HubClient
import JobModel
import Yams

/// Reads `report:` of a repos file entry: `{forge: gitea|forgejo|github, api: URL, token_file: F,
/// context: NAME}` or `{command: CMD}`.
struct WatchReportReader {
    let entry: WatchEntryReader

    func report(_ node: Node, url: String) throws(ConstruirError) -> ReportTarget {
        guard let mapping = node.mapping else { throw entry.invalid("report: must be a mapping with forge: or command:") }
        var fields: [String: String] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string, ["forge", "api", "token_file", "context", "command"].contains(key) else {
                throw entry.invalid("report: unknown key '\(keyNode.string ?? "?")' (known: forge, api, token_file, context, command)")
            }
            guard let text = value.scalar?.string else { throw entry.invalid("report.\(key): must be a single value") }
            fields[key] = text
        }
        if let command = fields["command"] {
            guard fields.count == 1 else { throw entry.invalid("report: command: goes alone, without forge:, api:, token_file: or context:") }
            guard !command.trimmingCharacters(in: .whitespaces).isEmpty else { throw entry.invalid("report.command: is empty") }
            return .command(command)
        }
        return .forge(try forge(fields, url: url))
    }

    private func forge(_ fields: [String: String], url: String) throws(ConstruirError) -> ReportTarget.Forge {
        guard let kindText = fields["forge"] else { throw entry.invalid("report: needs forge: (gitea, forgejo, github) or command:") }
        guard let kind = ReportTarget.Forge.Kind(rawValue: kindText) else {
            throw entry.invalid("report.forge: '\(kindText)' is not one of gitea, forgejo, github")
        }
        guard let apiText = fields["api"] else { throw entry.invalid("report: forge: needs api: (the forge's API URL)") }
        guard let api = URL(string: apiText.hasSuffix("/") ? String(apiText.dropLast()) : apiText),
              ["http", "https"].contains(api.scheme ?? ""), api.host != nil else {
            throw entry.invalid("report.api: '\(apiText)' is not an http(s) URL")
        }
        guard let tokenFile = fields["token_file"] else { throw entry.invalid("report: forge: needs token_file: (a file of mode 0600)") }
        let token: String
        do {
            token = try HubClient.readToken(file: tokenFile.hasPrefix("/") ? tokenFile : "\(entry.base)/\(tokenFile)")
        } catch {
            throw entry.invalid("report.token_file: \(error.message)")
        }
        guard let (owner, repository) = ReportTarget.ownerAndRepository(of: url) else {
            throw entry.invalid("report: cannot tell the forge's owner/repo from the url \(url)")
        }
        return ReportTarget.Forge(kind: kind, api: api, token: token, context: fields["context"] ?? "construir",
                                  owner: owner, repository: repository)
    }
}
