import ArgumentParser
import ConstruirSystem
import Foundation
import Yams

/// `construir run --config FILE`: a YAML mapping of `run`'s own options, each named as on the
/// command line with `_` for `-` (`pause_when_busy: 50`, `hours: [22:00-07:00]`,
/// `pause_on_battery: true`). They become arguments, so they are checked exactly as typed
/// ones are; an option given on the command line wins over the file's.
enum RunConfigFile {
    /// The command line arguments the file stands for, less those `commandLine` gives itself.
    static func arguments(file: String, commandLine: [String]) throws -> [String] {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ValidationError("--config \(file): cannot read it: \(error.localizedDescription)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ValidationError("--config \(file) is not valid YAML: \(error)")
        }
        guard let node else { return [] }
        guard let mapping = node.mapping else { throw ValidationError("--config \(file) must be a mapping of option: value") }
        var arguments: [String] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string, !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ValidationError("--config \(file): \(keyNode.string.map { "'\($0)'" } ?? "a key") is not an option name (e.g. pause_when_busy)")
            }
            let option = "--" + key.replacingOccurrences(of: "_", with: "-")
            guard !["--config", "--help", "--version"].contains(option) else {
                throw ValidationError("--config \(file): \(key) cannot be set in a file")
            }
            if commandLine.contains(where: { $0 == option || $0.hasPrefix(option + "=") }) { continue }
            let values: [Node]
            if let sequence = value.sequence { values = Array(sequence) } else { values = [value] }
            for value in values {
                guard let scalar = value.scalar else { throw ValidationError("--config \(file): \(key) must be a value or a list of values") }
                // A flag: true sets it, false leaves it off.
                if let flag = value.bool {
                    if flag { arguments.append(option) }
                    continue
                }
                arguments += [option, scalar.string]
            }
        }
        return arguments
    }
}

extension RunCommand {
    /// This command with `--config`'s options added where `commandLine` (the arguments after
    /// `run`) gives none; itself when there is no `--config`.
    func applyingConfig(commandLine: [String]) throws -> RunCommand {
        guard let config else { return self }
        let fromFile = try RunConfigFile.arguments(file: config, commandLine: commandLine)
        do {
            return try RunCommand.parse(fromFile + commandLine)
        } catch {
            throw ValidationError("--config \(config): \(RunCommand.message(for: error))")
        }
    }

    /// The arguments after `run` on this process's command line.
    static func commandLineArguments() -> [String] {
        let arguments = CommandLine.arguments
        guard let index = arguments.dropFirst().firstIndex(of: "run") else { return Array(arguments.dropFirst()) }
        return Array(arguments[(index + 1)...])
    }
}
