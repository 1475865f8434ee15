import Testing
@testable import JobModel

@Suite struct UnitsTests {
    @Test func durations() throws {
        #expect(try Units.duration("90s") == .seconds(90))
        #expect(try Units.duration("30m") == .seconds(1800))
        #expect(try Units.duration("1h30m") == .seconds(5400))
        #expect(try Units.duration("45") == .seconds(45))
        #expect(try Units.duration("1.5s") == .milliseconds(1500))
    }

    @Test(arguments: ["", "abc", "10x", "-5s", "0", "m", "5s3"])
    func badDurations(text: String) {
        #expect(throws: (any Error).self) { try Units.duration(text) }
    }

    @Test func sizes() throws {
        #expect(try Units.byteSize("512M") == 512 << 20)
        #expect(try Units.byteSize("1G") == 1 << 30)
        #expect(try Units.byteSize("1GiB") == 1 << 30)
        #expect(try Units.byteSize("1536K") == 1536 << 10)
        #expect(try Units.byteSize("4096") == 4096)
    }

    @Test(arguments: ["", "G", "12Q", "-1M", "0"])
    func badSizes(text: String) {
        #expect(throws: (any Error).self) { try Units.byteSize(text) }
    }

    @Test func roundingUpToWholeBlocks() {
        #expect(Units.roundUp(0, to: 4096) == 0)
        #expect(Units.roundUp(1, to: 4096) == 4096)
        #expect(Units.roundUp(4096, to: 4096) == 4096)
        #expect(Units.roundUp(4097, to: 4096) == 8192)
    }
}
