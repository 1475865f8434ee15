import ArgumentParser

/// `hub serve --results`: who may read jobs, their results, consoles and outputs.
package enum ResultsVisibility: String, CaseIterable, Sendable, ExpressibleByArgument {
    /// Each submitter token reads its own jobs.
    case `private`
    /// Anyone reads every job, without a token; stopping one still takes its submitter's.
    case `public`
}
