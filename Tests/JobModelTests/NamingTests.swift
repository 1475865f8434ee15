import Foundation
import Testing
import TestSupport
@testable import JobModel

/// The naming rules in one place: what `construir package` writes is what the runner reads.
@Suite struct NamingTests {
    @Test(arguments: ["construir", "a b/c:d", "..hidden", "ünï", "...", "v1.2_x-y", "repo_i3", "x_i", "_i0"])
    func aPackagedFileNameParsesBackToItsNameAndImage(repository: String) throws {
        for image in [0, 1, 42, 999_999] {
            let name = JobName.sanitize(repository) + "_abc1234"
            let fileName = JobName.fileName(name: name, image: image)
            let parsed = try #require(JobName(fileName: fileName))
            #expect(parsed.name == name)
            #expect(parsed.requestedImage == image)
            #expect(parsed.fileName == fileName)
            #expect(parsed.problem == nil)
            #expect(parsed.safeName == name, "a packaged name is already safe for done/")
            #expect(QueueObserver.isDoneName(parsed.safeName))
        }
    }

    @Test func aNameWithoutAnImageUsesTheDefault() throws {
        let parsed = try #require(JobName(fileName: JobName.fileName(name: "hello", image: nil)))
        #expect(parsed.fileName == "hello.tar.xz")
        #expect(parsed.requestedImage == nil)
    }

    @Test func sanitizeKeepsTheSafeCharacters() {
        #expect(JobName.sanitize("construir") == "construir")
        #expect(JobName.sanitize("a b/c:d") == "a-b-c-d")
        #expect(JobName.sanitize("..hidden") == "hidden")
        #expect(JobName.sanitize("ünï") == "-n-")
        #expect(JobName.sanitize("...") == "repo")
        #expect(JobName.sanitize("v1.2_x-y") == "v1.2_x-y")
    }

    /// Every scalar `SafeName` allows survives both sanitisers; every other becomes their
    /// replacement, and done/ accepts exactly the safe names.
    @Test func oneCharacterRuleForEveryName() throws {
        let scalars = (0x20...0x7e).compactMap(Unicode.Scalar.init) + ["é", "\u{1}", "\u{202e}"]
        for scalar in scalars {
            let text = "a\(scalar)b"
            let allowed = SafeName.isAllowed(scalar)
            #expect(allowed == (scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))))
            #expect(JobName.sanitize(text) == (allowed ? text : "a-b"), "\(scalar)")
            #expect(QueueObserver.isDoneName(text) == allowed, "\(scalar)")
            if scalar != "/" {
                let job = try #require(JobName(fileName: "\(text)_i0.tar.xz"))
                #expect(job.safeName == (allowed ? text : "a_b"), "\(scalar)")
            }
        }
    }

    @Test func imageIndexesAreCanonicalDecimals() {
        #expect(ImageStore.index(named: "0") == 0)
        #expect(ImageStore.index(named: "12") == 12)
        for bad in ["", "01", "+1", "00", " 1", "1.0", "x", "1a"] {
            #expect(ImageStore.index(named: bad) == nil, "\(bad)")
        }
    }

    @Test func imageStoreListsOnlyImagesWithAManifest() async throws {
        try await withTemporaryDirectory { dir in
            for name in ["0", "2", "01", "x", "3"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
                if name != "3" { try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(name)/\(BuildImage.manifestName)")) }
            }
            #expect(ImageStore(root: dir).availableIndexes() == [0, 2])
        }
    }
}
