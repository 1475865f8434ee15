import ConstruirSystem
import Foundation

/// Parsers for the human units on the command line: durations like `90s`, `30m`, `2h`, `1h30m`
/// (a bare number is seconds) and sizes like `512M`, `1G`, `1536K` (a bare number is bytes);
/// sizes as people read them (`formatBytes`) and as disks hold them (`roundUp`).
package enum Units {
    package static func duration(_ text: String, allowZero: Bool = false) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Double(trimmed), seconds > 0 || (allowZero && seconds == 0), seconds.isFinite {
            return .milliseconds(Int64(seconds * 1000))
        }
        var total = 0.0
        var number = ""
        var sawUnit = false
        for ch in trimmed {
            if ch.isNumber || ch == "." {
                number.append(ch)
                continue
            }
            guard let value = Double(number) else { throw invalid(text, "duration", example: "90s, 30m, 2h") }
            switch ch {
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: throw invalid(text, "duration", example: "90s, 30m, 2h")
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty, total > 0 || (allowZero && total == 0), total.isFinite else { throw invalid(text, "duration", example: "90s, 30m, 2h") }
        return .milliseconds(Int64(total * 1000))
    }

    package static func byteSize(_ text: String) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let upper = trimmed.uppercased().replacingOccurrences(of: "IB", with: "").replacingOccurrences(of: "B", with: "")
        let multipliers: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = upper
        var multiplier: Int64 = 1
        if let last = upper.last, let m = multipliers[last] {
            multiplier = m
            digits = String(upper.dropLast())
        }
        guard let value = Double(digits), value > 0, value.isFinite,
              value * Double(multiplier) < Double(Int64.max) / 2 else {
            throw invalid(text, "size", example: "512M, 1G, 1536K")
        }
        return Int64(value * Double(multiplier))
    }

    /// Bytes for people, with the exact count for programs and bug reports:
    /// `30.0 MiB (31457280 bytes)`.
    package static func formatBytes(_ bytes: Int64) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = -1
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit < 0 ? "\(bytes) bytes" : "\(String(format: "%.1f", value)) \(units[unit]) (\(bytes) bytes)"
    }

    /// A duration for people, as limits are given: `30s`, `1.5s`.
    package static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
    }

    /// `value` rounded up to a whole number of `multiple`s (a disk's size to whole blocks).
    package static func roundUp(_ value: Int64, to multiple: Int64) -> Int64 {
        (value + multiple - 1) / multiple * multiple
    }

    private static func invalid(_ text: String, _ kind: String, example: String) -> ConstruirError {
        ConstruirError(.invalidArgument, "'\(text)' is not a \(kind) (examples: \(example))")
    }
}

