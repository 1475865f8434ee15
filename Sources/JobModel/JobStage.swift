import ConstruirSystem
import Yams

/// One stage of a job (`stages:` in job/construir.yml): a bash script run with `set -e` in the
/// job's VM after the stages before it. A failing stage ends the job unless it may fail.
package struct JobStage: Sendable, Equatable {
    /// The stage that always runs first, wherever it is listed.
    package static let prepare = "prepare"
    /// More stages than this is not a build but a script; names are short enough to show.
    package static let maxStages = 20
    package static let maxNameLength = 40
    package static let fields: Set<String> = ["name", "script", "allow_failure", "artifacts"]

    package var name: String
    /// The script's lines, joined with newlines.
    package var script: [String]
    package var allowFailure: Bool
    /// Globs, relative to the job's directory, of files kept after the stage (`artifacts/`).
    package var artifacts: [String]

    package init(name: String, script: [String], allowFailure: Bool = false, artifacts: [String] = []) {
        self.name = name
        self.script = script
        self.allowFailure = allowFailure
        self.artifacts = artifacts
    }

    /// `stages` in the order they run: `prepare` first, the others as listed.
    package static func runOrder(_ stages: [JobStage]) -> [JobStage] {
        stages.filter { $0.name == prepare } + stages.filter { $0.name != prepare }
    }

    /// Parses `stages:`; `invalid` turns a reason into the manifest's error.
    static func parse(_ node: Node, invalid: (String) -> ConstruirError) throws(ConstruirError) -> [JobStage] {
        guard let list = node.sequence else { throw invalid("stages must be a list of {name, script, allow_failure, artifacts}") }
        guard !list.isEmpty, list.count <= maxStages else { throw invalid("stages must list 1 to \(maxStages) stages") }
        var stages: [JobStage] = []
        for (index, item) in list.enumerated() {
            let at = "stages[\(index)]"
            guard let mapping = item.mapping else { throw invalid("\(at) must be a mapping with name and script") }
            var name: String?
            var script: [String]?
            var stage = JobStage(name: "", script: [])
            for (keyNode, value) in mapping {
                guard let key = keyNode.string, fields.contains(key) else {
                    throw invalid("\(at) has an unknown field '\(keyNode.string ?? "?")' (known: \(fields.sorted().joined(separator: ", ")))")
                }
                switch key {
                case "name":
                    guard let text = value.scalar?.string, isName(text) else {
                        throw invalid("\(at).name must be 1 to \(maxNameLength) letters, digits, '.', '_' or '-'")
                    }
                    name = text
                case "script":
                    script = try lines(value, "\(at).script", invalid: invalid)
                case "allow_failure":
                    guard let flag = value.bool else { throw invalid("\(at).allow_failure must be true or false") }
                    stage.allowFailure = flag
                default:
                    stage.artifacts = try lines(value, "\(at).artifacts", invalid: invalid)
                    for glob in stage.artifacts where glob.hasPrefix("/") || glob.split(separator: "/").contains("..") || glob.isEmpty {
                        throw invalid("\(at).artifacts: '\(glob)' must be a relative path without '..'")
                    }
                }
            }
            guard let name else { throw invalid("\(at) needs a name") }
            guard let script, !script.isEmpty else { throw invalid("stage \(name) needs a script (one or more lines)") }
            guard !stages.contains(where: { $0.name == name }) else { throw invalid("two stages are named \(name)") }
            stage.name = name
            stage.script = script
            stages.append(stage)
        }
        return stages
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maxNameLength
            && text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// A value or a list of values, each a line without NUL.
    private static func lines(_ node: Node, _ what: String, invalid: (String) -> ConstruirError) throws(ConstruirError) -> [String] {
        let items: [Node] = node.sequence.map { Array($0) } ?? [node]
        var lines: [String] = []
        for item in items {
            guard let text = item.scalar?.string, !text.utf8.contains(0) else { throw invalid("\(what) must be text or a list of text") }
            lines.append(text)
        }
        return lines
    }
}
