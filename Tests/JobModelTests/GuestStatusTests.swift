import Testing
@testable import JobModel

@Suite struct GuestStatusTests {
    private func disk(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        bytes += [UInt8](repeating: 0, count: GuestStatus.diskSize - bytes.count)
        return bytes
    }

    @Test func finishedRecord() throws {
        let status = try #require(try GuestStatus.parse(disk(
            "construir-status=1\nstate=finished\nexit_code=3\nboot_uptime_ms=2100\nstart_uptime_ms=2200\nend_uptime_ms=2900\n")))
        #expect(status.state == .finished)
        #expect(status.exitCode == 3)
        #expect(status.bootUptimeMs == 2100)
        #expect(status.endUptimeMs == 2900)
    }

    @Test func emptyDiskMeansNoRecord() throws {
        #expect(try GuestStatus.parse(disk("")) == nil)
    }

    @Test func errorRecordKeepsAPrintableMessage() throws {
        let status = try #require(try GuestStatus.parse(disk("construir-status=1\nstate=error\nerror=no-job-script\u{1b}[31m\n")))
        #expect(status.state == .error)
        #expect(status.error == "no-job-script[31m")
    }

    @Test(arguments: [
        "state=finished\nexit_code=0\n",                          // no version line
        "construir-status=2\nstate=finished\nexit_code=0\n",      // unknown version
        "construir-status=1\nstate=dancing\n",                    // unknown state
        "construir-status=1\nstate=finished\n",                   // finished without exit code
        "construir-status=1\nstate=finished\nexit_code=99999999999999999999\n",
        "construir-status=1\ngarbage\n",
    ])
    func malformedRecordsAreProtocolViolations(text: String) {
        #expect(throws: (any Error).self) { try GuestStatus.parse(disk(text)) }
    }

    @Test func invalidUTF8IsRejected() {
        var bytes = disk("")
        bytes[0] = 0xFF
        bytes[1] = 0xFE
        #expect(throws: (any Error).self) { try GuestStatus.parse(bytes) }
    }
}
