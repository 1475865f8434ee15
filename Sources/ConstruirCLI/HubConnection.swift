import ArgumentParser
import ConstruirSystem
import HubClient

/// How a command reaches a hub: `--hub URL --token-file FILE [--ca FILE] [--insecure-http]`.
struct HubConnection: ParsableArguments {
    @Option(help: ArgumentHelp("The hub's URL, e.g. https://hub.example.org (docs/hub.md).", valueName: "URL"))
    var hub: String?
    @Option(help: "File holding your hub token (mode 0600).") var tokenFile: String?
    @Option(help: "Trust only this CA certificate (PEM) for the hub's HTTPS, instead of the system's.") var ca: String?
    @Flag(help: "Allow plain http:// to a hub that is not on this machine (the token crosses the network in clear text).")
    var insecureHTTP = false

    func validate() throws {
        if hub != nil, tokenFile == nil { throw ValidationError("--hub needs --token-file") }
        if hub == nil, tokenFile != nil || ca != nil || insecureHTTP {
            throw ValidationError("--token-file, --ca and --insecure-http go with --hub")
        }
    }

    /// With `--hub`, runs `body` with a client (shut down after it), and returns true; an error
    /// other than an exit code is `command`'s error (exit 70). Without `--hub`, returns false.
    func run(_ command: String, _ body: (HubClient) async throws -> Void) async throws -> Bool {
        let client: HubClient
        do {
            guard let made = try makeClient() else { return false }
            client = made
        } catch {
            throw fail(command, "\(error)")
        }
        do {
            try await body(client)
        } catch let exit as ExitCode {
            await client.shutdown()
            throw exit
        } catch {
            await client.shutdown()
            throw fail(command, "\(error)")
        }
        await client.shutdown()
        return true
    }

    /// The client for `--hub`; nil without it.
    func makeClient() throws(ConstruirError) -> HubClient? {
        guard let hub else { return nil }
        guard let tokenFile else { throw ConstruirError(.invalidArgument, "--hub needs --token-file") }
        return try HubClient(url: hub, token: try HubClient.readToken(file: tokenFile), caFile: ca, allowInsecureHTTP: insecureHTTP)
    }
}
