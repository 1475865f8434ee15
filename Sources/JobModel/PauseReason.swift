/// Why a volunteer's runner holds back: it claims no new job, and when `suspendsVMs` it also
/// pauses the VMs it runs (`run --pause-when-busy`, `--pause-on-battery`, `--hours`).
package struct PauseReason: Codable, Sendable, Hashable, CustomStringConvertible {
    package enum Kind: String, Codable, Sendable, CaseIterable, Comparable {
        /// Other programs use more of the CPUs than `--pause-when-busy` allows.
        case busy
        /// The machine runs on battery (`--pause-on-battery`).
        case battery
        /// Outside the compute hours (`--hours`); VMs pause only with `--window-end pause`.
        case hours

        package static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    package var kind: Kind
    /// For people, e.g. "other processes use 87% of the CPUs (--pause-when-busy 50)".
    package var detail: String
    package var suspendsVMs: Bool

    package init(kind: Kind, detail: String, suspendsVMs: Bool) {
        self.kind = kind
        self.detail = detail
        self.suspendsVMs = suspendsVMs
    }

    enum CodingKeys: String, CodingKey {
        case kind, detail
        case suspendsVMs = "suspends_vms"
    }

    package var description: String { detail }
}
