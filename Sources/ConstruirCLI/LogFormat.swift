import ArgumentParser

/// How construir's logs are written to standard error: `text` for people, `json` (one object per
/// line) for log collectors.
package enum LogFormat: String, CaseIterable, Sendable, ExpressibleByArgument {
    case text, json
}
