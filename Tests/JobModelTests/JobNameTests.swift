import Testing
@testable import JobModel

@Suite struct JobNameTests {
    @Test func imageSelectorIsParsed() throws {
        let job = try #require(JobName(fileName: "hello_i3.tar.xz"))
        #expect(job.name == "hello")
        #expect(job.requestedImage == 3)
        #expect(job.image(default: 0) == 3)
    }

    @Test func noSelectorUsesTheDefaultImage() throws {
        let job = try #require(JobName(fileName: "build.tar.xz"))
        #expect(job.name == "build")
        #expect(job.requestedImage == nil)
        #expect(job.image(default: 7) == 7)
    }

    @Test func lastSelectorWinsAndUnderscoresInNamesStay() throws {
        let job = try #require(JobName(fileName: "my_repo_i2_abc_i1.tar.xz"))
        #expect(job.name == "my_repo_i2_abc")
        #expect(job.requestedImage == 1)
    }

    @Test(arguments: [
        "_i1.tar.xz",           // the selector alone is the name
        "hello_ix.tar.xz",       // not digits
        "hello_i.tar.xz",        // no digits
    ])
    func oddSelectorsAreName(fileName: String) throws {
        let job = try #require(JobName(fileName: fileName))
        #expect(job.requestedImage == nil)
        #expect(job.name == String(fileName.dropLast(".tar.xz".count)))
    }

    @Test(arguments: [".hidden_i0.tar.xz", ".tmp-upload", "job.tar.gz", "job.tar.xz.part", ".tar.xz", "a/b.tar.xz", ""])
    func nonJobsAreIgnored(fileName: String) {
        #expect(JobName(fileName: fileName) == nil)
    }

    @Test func badNamesParseButCarryAProblem() throws {
        let long = try #require(JobName(fileName: String(repeating: "a", count: 300) + ".tar.xz"))
        #expect(long.problem?.contains("longer than 200 bytes") == true)
        #expect(long.safeName.count == 100)
        let control = try #require(JobName(fileName: "evil\nname\u{1b}[31m_i0.tar.xz"))
        #expect(control.problem?.contains("control characters") == true)
        #expect(control.safeName == "evil_name__31m")
        #expect(try #require(JobName(fileName: "fine_i0.tar.xz")).problem == nil)
    }

    @Test func safeNameKeepsOnlyHarmlessCharacters() throws {
        #expect(try #require(JobName(fileName: "ok-name.v1_i0.tar.xz")).safeName == "ok-name.v1")
        #expect(try #require(JobName(fileName: "we\u{1}ird name\u{e9}_i0.tar.xz")).safeName == "we_ird_name_")
        #expect(try #require(JobName(fileName: "dots..name_i0.tar.xz")).safeName == "dots..name")
    }
}
