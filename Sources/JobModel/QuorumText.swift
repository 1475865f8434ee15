/// One line each for how a hub's replicas compared, for `construir result` and the job's page.
package enum QuorumText {
    package static func describe(_ quorum: JobResult.Quorum) -> String {
        let runners = quorum.replicas.map(\.runnerID).joined(separator: ", ")
        switch quorum.state {
        case .agreed:
            guard let dissenters = quorum.dissenters, !dissenters.isEmpty else { return "agreed by \(runners)" }
            let majority = quorum.replicas.map(\.runnerID).filter { !dissenters.contains($0) }
            return "agreed by a majority (\(majority.joined(separator: ", "))); outvoted: \(dissenters.joined(separator: ", "))"
        case .disputed:
            var text = "disputed between \(runners)"
            if let differing = quorum.differing, !differing.isEmpty {
                let count = quorum.differingCount ?? differing.count
                text += "; differing paths: " + differing.prefix(5).joined(separator: ", ") + (count > 5 ? " and \(count - 5) more" : "")
            }
            return text
        case .trusted:
            return "trusted: run by \(runners) alone, after \(quorum.agreedInARow ?? 0) agreed results in a row"
        }
    }

    package static func describe(_ comparison: JobResult.Comparison) -> String {
        var text = "\(comparison.comparedCount) path(s) by \(comparison.patterns.joined(separator: " "))"
        if comparison.leftOutCount > 0 {
            text += "; left out: " + comparison.leftOut.prefix(5).joined(separator: ", ")
                + (comparison.leftOutCount > 5 ? " and \(comparison.leftOutCount - 5) more" : "")
        }
        return text
    }
}
