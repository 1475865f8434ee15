/// One build image a hub serves (`GET /api/v1/images`): what a runner needs to fetch it and to
/// check what it fetched. Only images whose files matched their image.json when the hub
/// started are listed.
public struct HubImage: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var sha256: String
        public var size: Int64

        public init(name: String, sha256: String, size: Int64) {
            self.name = name
            self.sha256 = sha256
            self.size = size
        }
    }

    public var index: Int
    /// `BuildImage.digest()`: what a runner's image N must equal to get the hub's jobs for N.
    public var digest: String
    /// Every file image.json lists (image.json itself is fetched separately).
    public var files: [File]

    public init(index: Int, digest: String, files: [File]) {
        self.index = index
        self.digest = digest
        self.files = files
    }
}
