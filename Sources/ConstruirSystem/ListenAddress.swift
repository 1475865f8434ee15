
/// `HOST:PORT` as given to `--listen` and `--http`: `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`
/// (port 0: any free port, reported once listening).
package struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    package init(parsing text: String) throws {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ConstruirError(.invalidArgument, "'\(text)' is not HOST:PORT (an IPv6 host is written [::1]:8080)")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ConstruirError(.invalidArgument, "'\(text)' is not HOST:PORT, e.g. 127.0.0.1:8080")
            }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw ConstruirError(.invalidArgument, "'\(text)' has no host, e.g. 127.0.0.1:8080") }
        guard let number = Int(port), (0...65535).contains(number) else {
            throw ConstruirError(.invalidArgument, "'\(text)': the port must be a number from 0 to 65535")
        }
        self.host = String(host)
        self.port = number
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
