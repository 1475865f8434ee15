import ConstruirSystem
import Crypto
import Foundation

/// `hub serve --webhook URL --webhook-secret-file F [--public-url URL]`: where job ends are
/// announced, and the secret each announcement is signed with.
package struct HubWebhook: Sendable {
    package let url: String
    let secret: Data
    /// The hub's address as its users reach it, for the link in each event.
    package let publicURL: String?

    package init(url: String, secretFile: String, publicURL: String?) throws(ConstruirError) {
        guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme?.lowercased() ?? ""),
              components.host?.isEmpty == false else {
            throw ConstruirError(.invalidArgument, "--webhook: '\(url)' is not an http:// or https:// URL")
        }
        self.url = url
        self.secret = Data(try Self.readSecret(secretFile).utf8)
        self.publicURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// `sha256=` and the hex HMAC-SHA256 of `body`: the receiver checks it with the same secret.
    package func signature(of body: Data) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret)).map { String(format: "%02x", $0) }.joined()
    }

    /// The secret file's first line. Like a token file, it must be a regular file of the hub's
    /// user that nobody else may read.
    static func readSecret(_ path: String) throws(ConstruirError) -> String {
        try PrivateFile.firstLine(path, what: "the webhook secret file", holding: "secret")
    }
}
