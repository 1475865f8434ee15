import ArgumentParser
import JobModel

/// The `construir` command line. The executable's `main` only calls this, so every command can
/// be parsed and run from tests.
package struct Construir: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "construir",
        abstract: "Run untrusted build jobs in offline, throwaway VMs.",
        version: construirVersion,
        subcommands: [
            RunCommand.self, RunOnceCommand.self, TryCommand.self, StatusCommand.self, ResultCommand.self, LogsCommand.self,
            KillCommand.self, ServeCommand.self, PackageCommand.self, ImageCommand.self, DoctorCommand.self, ExtractCommand.self,
            HubCommand.self, WatchCommand.self,
        ])

    package init() {}
}
