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

    /// The client for `--hub`; nil without it.
    func makeClient() throws(ConstruirError) -> HubClient? {
        guard let hub else { return nil }
        guard let tokenFile else { throw ConstruirError(.invalidArgument, "--hub needs --token-file") }
        return try HubClient(url: hub, token: try HubClient.readToken(file: tokenFile), caFile: ca, allowInsecureHTTP: insecureHTTP)
    }
}
