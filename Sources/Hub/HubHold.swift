import Foundation

/// One runner's hold on a job, as the API hands it out: the job's lease and that runner's part.
public struct HubHold: Sendable, Equatable {
    public var lease: HubLease
    public var hold: HubLease.Hold

    public var id: String { lease.id }
    public var job: String { lease.job }
    public var holder: String { hold.holder }
    public var attempt: Int { hold.attempt }
    public var serial: Int { hold.serial }
    public var expires: Date { hold.expires }
    public var sha256: String { lease.sha256 }
    public var size: Int64 { lease.size }
    public var queued: Date { lease.queued }
}
