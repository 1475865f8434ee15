import Archive
import ArgumentParser
import ConstruirSystem
import JobModel
import Runner
import Foundation

/// `construir extract`: the runner's output extraction on its own, for an `output.tar.xz` (or
/// an output disk) obtained elsewhere. The same rules and limits as in the runner apply, so a
/// hostile archive cannot write outside the destination.
package struct ExtractCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a job's output archive (tar.xz, optionally zero padded) with the runner's safety rules.",
        discussion: """
        DESTINATION must not exist; it is created. Entries that are absolute, contain '..', are \
        devices or FIFOs, or escape through symlinks make the whole extraction fail and leave \
        nothing behind. Limits as in `construir run`.
        """)

    @Argument(help: "The output archive or output disk.") var archive: String
    @Argument(help: "Directory to create and extract into.") var destination: String
    @Option(help: "Most bytes of file data to write.") var maxBytes = "1G"
    @Option(help: "Most entries.") var maxEntries = 100_000

    package init() {}

    package func run() throws {
        var limits = ExtractionLimits()
        limits.maxTotalBytes = try Units.byteSize(maxBytes)
        limits.maxEntries = maxEntries
        let summary = try OutputExtractor.extract(disk: FileSystem.absolute(archive), to: destination, limits: limits)
        print("extracted \(summary.entries) entries, \(summary.bytesWritten) bytes into \(destination)")
    }
}
