import JobModel

/// A job as a claim sees it before taking it: what the claiming runner's `accepting` decides on
/// (its images, its tags).
package struct HubOffer: Sendable, Equatable {
    package var name: JobName
    /// The tags the job asks of its runner (`tags:` in job/construir.yml).
    package var tags: [String]

    package init(name: JobName, tags: [String] = []) {
        self.name = name
        self.tags = tags
    }
}
