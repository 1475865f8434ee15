import ArgumentParser
import Foundation
import Hub

/// `construir hub`: the hub that will hand jobs to volunteers' runners over HTTPS (issue 15).
/// Its tokens come first: every API call will carry one. `hub serve` is not there yet.
public struct HubCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "The hub volunteers' runners will pull jobs from (in progress: its API tokens).",
        subcommands: [Token.self])

    public init() {}

    /// `construir hub token add|list|revoke`
    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add, list and revoke the hub's API tokens.",
            discussion: """
            The tokens file keeps each token's name, role and the sha256 of its secret, never the \
            secret: `add` prints it once. The file is private to its owner (mode 0600); one that \
            others can read or write is refused.
            """,
            subcommands: [Add.self, List.self, Revoke.self])
    }

    struct TokensFile: ParsableArguments {
        @Option(help: "The hub's tokens file (created by the first `hub token add`).")
        var tokens: String
    }

    /// `construir hub token add NAME --role runner|submitter --tokens FILE`
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print its secret, alone on standard output; it is shown only this once.")

        @Argument(help: "The token's name: the runner or submitter it is for.") var name: String
        @Option(help: "What it may do: runner (claim jobs, send results) or submitter (add jobs).") var role: HubRole
        @OptionGroup var file: TokensFile

        func run() throws {
            do {
                print(try HubTokenStore(path: file.tokens).add(name: name, role: role))
            } catch {
                throw fail("hub token add", "\(error)")
            }
        }
    }

    /// `construir hub token list --tokens FILE`
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens: name, role, created, revoked.")

        @OptionGroup var file: TokensFile
        @Flag(help: "Print JSON (without the hashes).") var json = false

        func run() throws {
            let tokens: [HubToken]
            do {
                tokens = try HubTokenStore(path: file.tokens).tokens()
            } catch {
                throw fail("hub token list", "\(error)")
            }
            let date = ISO8601DateFormatter()
            if json {
                let rows = tokens.map { token -> [String: String] in
                    var row = ["name": token.name, "role": token.role.rawValue, "created": date.string(from: token.created)]
                    if let revoked = token.revoked { row["revoked"] = date.string(from: revoked) }
                    return row
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let width = max(4, tokens.map(\.name.count).max() ?? 0)
            print("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  ROLE       CREATED               REVOKED")
            for token in tokens {
                print(token.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                      + token.role.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + "  "
                      + date.string(from: token.created) + "  " + (token.revoked.map { date.string(from: $0) } ?? "-"))
            }
        }
    }

    /// `construir hub token revoke NAME --tokens FILE`
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: from now on it authenticates nothing.")

        @Argument(help: "The token's name.") var name: String
        @OptionGroup var file: TokensFile

        func run() throws {
            do {
                try HubTokenStore(path: file.tokens).revoke(name: name)
            } catch {
                throw fail("hub token revoke", "\(error)")
            }
        }
    }
}

extension HubRole: ExpressibleByArgument {}
