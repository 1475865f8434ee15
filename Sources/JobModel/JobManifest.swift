import ConstruirSystem
import Foundation
import Yams

/// What a job asks of the runner, from the optional `job/construir.yml` in the job image:
///
/// ```yaml
/// timeout: 20m          # duration (90s, 20m, 2h) or seconds
/// memory: 2G            # guest memory
/// cpus: 2
/// output_size: 500M     # room for the output archive (instead of padding the job file)
/// environment:          # variables the job script sees
///   MODE: release
/// image_digest: 3f5c…   # run only on the build image with this digest (64 hex digits)
/// replicas: 3           # on a hub: how many runners must agree (up to its --max-replicas)
/// compare: ["**", "!logs/**"]  # on a hub: the output paths replicas must agree on
///                       # (default: everything but job_output.txt; see OutputComparison)
/// tags: [gpu]           # run only on a runner with every one of these tags (JobTags)
/// secrets: [DEPLOY_TOKEN] # values from the runner's secrets file (RunnerSecrets), as variables
/// params:               # chosen with `construir package -p NAME=VALUE`; environment variables
///   - {name: MODE, choices: [debug, release], default: release}
/// stages:               # instead of job/construir: bash scripts run with set -e, in order
///   - name: build
///     script: [make]
///   - name: lint
///     script: make lint
///     allow_failure: true
///   - name: test
///     script: [make check]
///     artifacts: [build/*.log]   # kept in the output after the stage
/// ```
///
/// Every field is optional; an unknown field is an error (a typo must not silently do nothing).
/// The runner checks each request against its policy (`RunnerPolicy`) and rejects the job when
/// it asks for more than the policy allows.
package struct JobManifest: Sendable, Equatable {
    package var timeout: Duration?
    package var memoryBytes: Int64?
    package var cpus: Int?
    package var outputSize: Int64?
    package var environment: [(String, String)]
    /// The digest (`BuildImage.digest()`) of the image the job was made for: two runners may
    /// both have an "image 1" built from different Debian package versions, and a job that
    /// pins one is rejected by a runner whose image differs instead of running on other bytes.
    package var imageDigest: String?
    /// How many different runners a hub should run the job on and compare; a local runner
    /// ignores it.
    package var replicas: Int?
    /// The job's stages (`JobStage`); empty for a job that runs job/construir.
    package var stages: [JobStage] = []
    /// The output paths a hub compares its replicas on; nil for the default.
    package var compare: OutputComparison?
    /// What `construir package -p` may set (`JobParameter`).
    package var params: [JobParameter] = []
    /// The tags a runner must have to run the job (`JobTags`).
    package var tags: [String] = []
    /// The names of the runner's secrets the job needs (`RunnerSecrets`): a runner without one
    /// ends the job `error` before booting it.
    package var secrets: [String] = []

    /// What a hub compares: the job's `compare:`, else `OutputComparison.default`.
    package var comparison: OutputComparison { compare ?? .default }

    package init(timeout: Duration? = nil, memoryBytes: Int64? = nil, cpus: Int? = nil, outputSize: Int64? = nil,
                environment: [(String, String)] = [], imageDigest: String? = nil, replicas: Int? = nil) {
        self.timeout = timeout
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.outputSize = outputSize
        self.environment = environment
        self.imageDigest = imageDigest
        self.replicas = replicas
    }

    package static func == (a: JobManifest, b: JobManifest) -> Bool {
        a.timeout == b.timeout && a.memoryBytes == b.memoryBytes && a.cpus == b.cpus && a.outputSize == b.outputSize
            && a.environment.elementsEqual(b.environment, by: { $0 == $1 }) && a.imageDigest == b.imageDigest
            && a.replicas == b.replicas && a.stages == b.stages && a.compare == b.compare && a.params == b.params && a.tags == b.tags
            && a.secrets == b.secrets
    }

    /// Where the manifest is in a job image.
    package static let path = "job/construir.yml"

    static let fields: Set<String> = ["timeout", "memory", "cpus", "output_size", "environment", "image_digest", "replicas", "stages", "compare", "params", "tags", "secrets"]
    /// Upper bound on the environment, as written to the guest's config disk.
    package static let maxEnvironmentBytes = 60 << 10
    /// More secrets than a job could need.
    package static let maxSecrets = 64
    /// More replicas than this are no check but a waste of volunteers.
    package static let maxReplicas = 16

    /// Parses `job/construir.yml`; throws `.invalidArgument` with what is wrong.
    package static func parse(_ bytes: [UInt8]) throws(ConstruirError) -> JobManifest {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw invalid("is not UTF-8 text")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw invalid("is not valid YAML: \(error)")
        }
        guard let node else { return JobManifest() }
        guard let mapping = node.mapping else { throw invalid("must be a mapping of fields") }
        var manifest = JobManifest()
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw invalid("has a field name that is not text") }
            switch key {
            case "timeout":
                let text = try scalar(value, key)
                do { manifest.timeout = try Units.duration(text) } catch { throw invalid("timeout: \(error)") }
            case "memory":
                let text = try scalar(value, key)
                do { manifest.memoryBytes = try Units.byteSize(text) } catch { throw invalid("memory: \(error)") }
            case "output_size":
                let text = try scalar(value, key)
                do { manifest.outputSize = try Units.byteSize(text) } catch { throw invalid("output_size: \(error)") }
            case "cpus":
                guard let cpus = Int(try scalar(value, key)), cpus >= 1 else { throw invalid("cpus must be a whole number ≥ 1") }
                manifest.cpus = cpus
            case "environment":
                guard let variables = value.mapping else { throw invalid("environment must be a mapping of NAME: value") }
                var size = 0
                for (nameNode, valueNode) in variables {
                    guard let name = nameNode.string, EnvironmentVariable.isIdentifier(name) else {
                        throw invalid("environment: \(nameNode.string.map { "'\($0)'" } ?? "a key") is not a variable name ([A-Za-z_][A-Za-z0-9_]*)")
                    }
                    let value = try scalar(valueNode, "environment.\(name)")
                    if value.utf8.contains(0) { throw invalid("environment.\(name) contains a NUL byte") }
                    size += name.utf8.count + value.utf8.count + 16
                    manifest.environment.append((name, value))
                }
                if size > maxEnvironmentBytes { throw invalid("environment is larger than \(maxEnvironmentBytes) bytes") }
            case "image_digest":
                let text = try scalar(value, key)
                do { manifest.imageDigest = try ImageDigest.validated(text, what: "image_digest") } catch { throw invalid("\(error)") }
            case "replicas":
                guard let replicas = Int(try scalar(value, key)), (1...maxReplicas).contains(replicas) else {
                    throw invalid("replicas must be a whole number from 1 to \(maxReplicas)")
                }
                manifest.replicas = replicas
            case "stages":
                manifest.stages = try JobStage.parse(value, invalid: invalid)
            case "compare":
                manifest.compare = try comparison(value)
            case "params":
                manifest.params = try JobParameter.parse(value, invalid: invalid)
            case "tags":
                manifest.tags = try tags(value)
            case "secrets":
                manifest.secrets = try secretNames(value)
            default:
                throw invalid("has an unknown field '\(key)' (known: \(fields.sorted().joined(separator: ", ")))")
            }
        }
        if let both = manifest.environment.first(where: { manifest.secrets.contains($0.0) }) {
            throw invalid("names \(both.0) both in environment and in secrets")
        }
        return manifest
    }

    /// The environment as a bash file the guest agent hands to the job through `BASH_ENV`:
    /// one `export NAME='value'` line each, quoted by `ShellQuote`, so no value is ever interpreted.
    package var environmentScript: String {
        EnvironmentVariable.bashEnvironmentFile(environment.map { (name: $0.0, value: $0.1) })
    }

    private static func tags(_ node: Node) throws(ConstruirError) -> [String] {
        try uniqueNames(node, "tags", "a tag or a list of tags", max: JobTags.maxTags, counted: "tags", problem: JobTags.problem(with:))
    }

    private static func secretNames(_ node: Node) throws(ConstruirError) -> [String] {
        try uniqueNames(node, "secrets", "a secret's name or a list of names", max: maxSecrets, counted: "names") { name in
            EnvironmentVariable.isIdentifier(name) ? nil : "'\(name)' is not a secret's name ([A-Za-z_][A-Za-z0-9_]*)"
        }
    }

    /// One value or a list of at most `max`, each without a `problem`; repeats are dropped.
    private static func uniqueNames(_ node: Node, _ key: String, _ what: String, max: Int, counted noun: String,
                                    problem: (String) -> String?) throws(ConstruirError) -> [String] {
        let names = try valueOrList(node, key, what)
        guard names.count <= max else { throw invalid("\(key) has more than \(max) \(noun)") }
        var unique: [String] = []
        for name in names {
            if let problem = problem(name) { throw invalid("\(key): \(problem)") }
            if !unique.contains(name) { unique.append(name) }
        }
        return unique
    }

    private static func comparison(_ node: Node) throws(ConstruirError) -> OutputComparison {
        let patterns = try valueOrList(node, "compare", "a glob or a list of globs")
        guard !patterns.isEmpty else { throw invalid("compare is empty: list at least one glob (\"**\" for everything)") }
        guard patterns.count <= OutputComparison.maxPatterns else { throw invalid("compare has more than \(OutputComparison.maxPatterns) globs") }
        for pattern in patterns {
            if let problem = OutputComparison.problem(with: pattern) { throw invalid("compare: \(problem)") }
        }
        return OutputComparison(patterns: patterns)
    }

    /// One value or a list of values; `what` says which, for the error.
    private static func valueOrList(_ node: Node, _ key: String, _ what: String) throws(ConstruirError) -> [String] {
        if let single = node.scalar?.string { return [single] }
        guard let sequence = node.sequence else { throw invalid("\(key) must be \(what)") }
        return try sequence.map { item throws(ConstruirError) in try scalar(item, key) }
    }

    private static func scalar(_ node: Node, _ key: String) throws(ConstruirError) -> String {
        guard let text = node.scalar?.string else { throw invalid("\(key) must be a single value") }
        return text
    }

    private static func invalid(_ reason: String) -> ConstruirError {
        ConstruirError(.invalidArgument, "\(path) \(reason)")
    }
}
