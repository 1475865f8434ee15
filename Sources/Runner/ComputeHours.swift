import ConstruirSystem
import Foundation

/// When a volunteer's runner may start jobs (`run --hours 22:00-07:00`, several allowed), in
/// the machine's local time. Outside every window no job is claimed; a job already running
/// finishes. A window may cross midnight; `00:00-24:00` is the whole day.
package struct ComputeHours: Sendable, Equatable, CustomStringConvertible {
    /// Minutes after local midnight: `start` inclusive, `end` exclusive; `end < start` crosses midnight.
    package struct Window: Sendable, Equatable {
        package var start: Int
        package var end: Int

        func contains(_ minute: Int) -> Bool {
            start <= end ? (start..<end).contains(minute) : minute >= start || minute < end
        }
    }

    package var windows: [Window]
    package var timeZone: TimeZone

    /// Parses `HH:MM-HH:MM` windows; throws `.invalidArgument` naming the one that is wrong.
    package init(parsing texts: [String], timeZone: TimeZone = .current) throws(ConstruirError) {
        var windows: [Window] = []
        for text in texts {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let start = Self.minutes(parts[0], allow24: false), let end = Self.minutes(parts[1], allow24: true),
                  start != end else {
                throw ConstruirError(.invalidArgument, "--hours \(text): give a window as HH:MM-HH:MM in local time (e.g. 22:00-07:00), start and end different")
            }
            windows.append(Window(start: start, end: end))
        }
        self.windows = windows
        self.timeZone = timeZone
    }

    private static func minutes(_ text: Substring, allow24: Bool) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<60).contains(minutes) else { return nil }
        if hours == 24 && minutes == 0 && allow24 { return 24 * 60 }
        guard (0..<24).contains(hours) else { return nil }
        return hours * 60 + minutes
    }

    private func minuteOfDay(_ date: Date) -> Int {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        return (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
    }

    /// Whether `date` falls in a window.
    package func contains(_ date: Date) -> Bool {
        let minute = minuteOfDay(date)
        return windows.contains { $0.contains(minute) }
    }

    package var description: String {
        windows.map { String(format: "%02d:%02d-%02d:%02d", $0.start / 60, $0.start % 60, $0.end / 60, $0.end % 60) }
            .joined(separator: ",")
    }
}
