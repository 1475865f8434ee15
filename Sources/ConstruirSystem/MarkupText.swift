/// Text for HTML pages and XML documents: the status pages and the hub's (job names, runner
/// names and output files are chosen by whoever submitted a job or runs a runner), and
/// libvirt's domain XML (file paths). One escape serves both.
package enum MarkupText {
    /// Escapes text for element content and quoted attribute values, in HTML and in XML.
    package static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}
