import JobModel
import Testing

@Suite struct OutputComparisonTests {
    @Test func theDefaultLeavesOutOnlyTheConsoleSnapshot() {
        let comparison = OutputComparison.default
        for path in [".", "libcjson.a", "build", "build/Testing/Temporary/LastTest.log", "a/job_output.txt"] {
            #expect(comparison.includes(path), "\(path)")
        }
        #expect(!comparison.includes("job_output.txt"))
    }

    @Test func globsMatchBySegmentAndTheLastMatchDecides() {
        let comparison = OutputComparison(patterns: ["lib/**", "*.a", "!lib/debug/*", "lib/debug/keep.txt"])
        #expect(comparison.includes("lib"), "** matches no segment too")
        #expect(comparison.includes("lib/x/y.so"))
        #expect(comparison.includes("libcjson.a"))
        #expect(!comparison.includes("sub/libcjson.a"), "* stays within its segment")
        #expect(!comparison.includes("lib/debug/a.o"))
        #expect(comparison.includes("lib/debug/keep.txt"))
        #expect(!comparison.includes("README"), "a path no pattern matches is left out")
        #expect(!comparison.includes("."))
        #expect(OutputComparison(patterns: ["**/*.log"]).includes("a/b/c.log"))
        #expect(OutputComparison(patterns: ["**/*.log"]).includes("c.log"))
        #expect(OutputComparison(patterns: ["t?st/[ab].txt"]).includes("test/a.txt"))
    }

    @Test(arguments: [
        ("compare: []\n", "compare is empty"),
        ("compare: {a: b}\n", "a glob or a list of globs"),
        ("compare: [\"/abs\"]\n", "is absolute"),
        ("compare: [\"a/../b\"]\n", "'..' segment"),
        ("compare: [\"!\"]\n", "an empty pattern"),
        ("compare: [\"a//b\"]\n", "empty or '..' segment"),
    ])
    func badComparisonsAreRefused(text: String, reason: String) {
        #expect {
            try JobManifest.parse(Array(text.utf8))
        } throws: { "\($0)".contains(reason) }
    }

    @Test func theManifestsComparisonIsReadOrTheDefault() throws {
        #expect(try JobManifest.parse(Array("compare: \"**\"\n".utf8)).comparison == .everything)
        #expect(try JobManifest.parse(Array("compare: [\"**\", \"!logs/**\"]\n".utf8)).comparison.patterns == ["**", "!logs/**"])
        #expect(try JobManifest.parse(Array("timeout: 5m\n".utf8)).comparison == .default)
    }
}
