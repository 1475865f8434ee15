import HubOpenAPI

extension Components.Schemas.HubClaimRequest {
    /// A runner's images by index (the wire keys them by the index's decimal text).
    package init(imageDigests: [Int: String], defaultImage: Int, tags: [String]? = nil) {
        let digests = Dictionary(uniqueKeysWithValues: imageDigests.map { (String($0.key), $0.value) })
        self.init(imageDigests: .init(additionalProperties: digests), tags: tags, defaultImage: defaultImage)
    }

    /// The runner's digest of image `index`, if it has one that verifies.
    package func digest(ofImage index: Int) -> String? { imageDigests?.additionalProperties[String(index)] }

    /// The image a job named without `_iN` runs on; absent is image 0.
    package var defaultImageIndex: Int { defaultImage ?? 0 }
}
