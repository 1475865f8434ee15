import ConstruirSystem
import Yams

/// A value the job's submitter chooses when packaging it: `params:` in construir.yml.
///
/// ```yaml
/// params:
///   - name: MODE
///     description: what to build
///     choices: [debug, release]
///     default: release
///   - name: TARGET            # no default: `construir package -p TARGET=...` is required
/// ```
///
/// `construir package -p NAME=VALUE` sets them, and each becomes an environment variable of the
/// job. Everything is checked before anything is packaged or queued (`resolve`): an unknown
/// name, a value outside the choices, or a missing required parameter is an error naming it.
package struct JobParameter: Sendable, Equatable {
    package var name: String
    package var description: String?
    /// The values allowed; nil for any.
    package var choices: [String]?
    /// Its value when none is given; nil: it must be given.
    package var defaultValue: String?

    package init(name: String, description: String? = nil, choices: [String]? = nil, defaultValue: String? = nil) {
        self.name = name
        self.description = description
        self.choices = choices
        self.defaultValue = defaultValue
    }

    /// More than this is no parameter list but a configuration file.
    package static let maxParameters = 64
    static let fields: Set<String> = ["name", "description", "choices", "default"]

    /// The variables `given` (from `-p`) make of `parameters`, defaults filled in, in the order the
    /// parameters are declared.
    /// - Throws: `.invalidArgument` naming an unknown parameter, a value outside its choices, a
    ///   parameter given twice, or a required one not given.
    package static func resolve(_ parameters: [JobParameter], given: [EnvironmentVariable]) throws(ConstruirError) -> [EnvironmentVariable] {
        var values: [String: String] = [:]
        for variable in given {
            guard let parameter = parameters.first(where: { $0.name == variable.name }) else {
                let known = parameters.isEmpty ? "construir.yml declares no params:" : "known: " + parameters.map(\.name).joined(separator: ", ")
                throw ConstruirError(.invalidArgument, "-p \(variable.name): no such parameter (\(known))")
            }
            guard values[variable.name] == nil else { throw ConstruirError(.invalidArgument, "-p \(variable.name) is given twice") }
            if let choices = parameter.choices, !choices.contains(variable.value) {
                throw ConstruirError(.invalidArgument, "-p \(variable.name)=\(variable.value): not one of its choices (\(choices.joined(separator: ", ")))")
            }
            values[variable.name] = variable.value
        }
        var resolved: [EnvironmentVariable] = []
        for parameter in parameters {
            guard let value = values[parameter.name] ?? parameter.defaultValue else {
                let about = parameter.description.map { " (\($0))" } ?? ""
                throw ConstruirError(.invalidArgument, "parameter \(parameter.name)\(about) is required: give -p \(parameter.name)=VALUE"
                                     + (parameter.choices.map { ", one of \($0.joined(separator: ", "))" } ?? ""))
            }
            resolved.append(try EnvironmentVariable(name: parameter.name, value: value))
        }
        return resolved
    }

    /// Parses `params:` of a manifest; `invalid` makes the error for a reason.
    static func parse(_ node: Node, invalid: (String) -> ConstruirError) throws(ConstruirError) -> [JobParameter] {
        guard let items = node.sequence else { throw invalid("params must be a list of parameters (- name: NAME)") }
        guard items.count <= maxParameters else { throw invalid("params has more than \(maxParameters) parameters") }
        var parameters: [JobParameter] = []
        for item in items {
            guard let fields = item.mapping else { throw invalid("params: each parameter is a mapping with a name") }
            var parameter = JobParameter(name: "")
            for (keyNode, value) in fields {
                guard let key = keyNode.string, fields.filter({ $0.key.string == key }).count == 1 else {
                    throw invalid("params: a parameter has a field twice or a field name that is not text")
                }
                switch key {
                case "name": parameter.name = try text(value, "params.name", invalid)
                case "description": parameter.description = try text(value, "params.description", invalid)
                case "default": parameter.defaultValue = try text(value, "params.default", invalid)
                case "choices":
                    guard let choices = value.sequence, !choices.isEmpty else { throw invalid("params.choices must be a non-empty list") }
                    parameter.choices = try choices.map { node throws(ConstruirError) in try text(node, "params.choices", invalid) }
                default:
                    throw invalid("params: unknown field '\(key)' (known: \(Self.fields.sorted().joined(separator: ", ")))")
                }
            }
            guard EnvironmentVariable.isIdentifier(parameter.name) else {
                throw invalid("params: '\(parameter.name)' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            guard !parameters.contains(where: { $0.name == parameter.name }) else { throw invalid("params: \(parameter.name) is declared twice") }
            if let value = parameter.defaultValue, let choices = parameter.choices, !choices.contains(value) {
                throw invalid("params: the default of \(parameter.name), '\(value)', is not one of its choices")
            }
            parameters.append(parameter)
        }
        return parameters
    }

    private static func text(_ node: Node, _ key: String, _ invalid: (String) -> ConstruirError) throws(ConstruirError) -> String {
        guard let text = node.scalar?.string else { throw invalid("\(key) must be a single value") }
        guard !text.utf8.contains(0) else { throw invalid("\(key) contains a NUL byte") }
        return text
    }
}
