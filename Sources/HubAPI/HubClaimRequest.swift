/// The body of a claim: what the runner can run. A hub that serves build images hands a runner
/// a job for image N only when the runner's image N has the hub's digest, so every result
/// comes from the same bytes.
public struct HubClaimRequest: Codable, Sendable, Equatable {
    /// The digests of the runner's images that verify against their image.json, by index
    /// (JSON object keys are strings: `{"0": "…"}`).
    public var imageDigests: [String: String]
    /// The image a job named without `_iN` runs on (`run --default-image`).
    public var defaultImage: Int

    public init(imageDigests: [Int: String] = [:], defaultImage: Int = 0) {
        self.imageDigests = Dictionary(uniqueKeysWithValues: imageDigests.map { (String($0.key), $0.value) })
        self.defaultImage = defaultImage
    }

    /// Both fields may be left out (`{}`): no images, default image 0.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Left out is the default; present, each must be what it says (`null` is not).
        imageDigests = container.contains(.imageDigests) ? try container.decode([String: String].self, forKey: .imageDigests) : [:]
        defaultImage = container.contains(.defaultImage) ? try container.decode(Int.self, forKey: .defaultImage) : 0
        guard defaultImage >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .defaultImage, in: container, debugDescription: "an image index is 0 or more")
        }
    }

    /// The runner's digest of image `index`, nil when it has none that verifies.
    public func digest(ofImage index: Int) -> String? { imageDigests[String(index)] }
}
