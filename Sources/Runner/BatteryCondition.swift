import Foundation
import JobModel

/// `run --pause-on-battery`: holds back while the machine runs on its battery, as the kernel's
/// power supply class tells (`/sys/class/power_supply`). A machine without a battery never does.
package struct BatteryCondition: PauseCondition {
    package let kind = PauseReason.Kind.battery
    package let interval: Duration
    package let directory: String

    package init(directory: String = "/sys/class/power_supply", interval: Duration = .seconds(10)) {
        self.directory = directory
        self.interval = interval
    }

    package var description: String { "--pause-on-battery (\(directory))" }

    package func check() -> PauseReason? {
        guard Self.onBattery(directory: directory) else { return nil }
        return PauseReason(kind: .battery, detail: "on battery (--pause-on-battery)", suspendsVMs: true)
    }

    /// Whether the machine runs on battery: one of its own batteries (not a mouse's, whose
    /// `scope` is Device) is discharging, or it has a mains or USB supply and none is online.
    package static func onBattery(directory: String) -> Bool {
        var batteries: [String] = []
        var supplies = 0
        var online = false
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = "\(directory)/\(name)"
            switch read("\(path)/type") {
            case "Battery":
                if read("\(path)/scope") == "Device" { continue }
                batteries.append(read("\(path)/status") ?? "Unknown")
            case "Mains", "USB", "USB_C", "USB_PD", "USB_PD_DRP", "Wireless":
                supplies += 1
                if read("\(path)/online") == "1" { online = true }
            default:
                continue
            }
        }
        guard !batteries.isEmpty else { return false }
        return batteries.contains("Discharging") || (supplies > 0 && !online)
    }

    private static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
