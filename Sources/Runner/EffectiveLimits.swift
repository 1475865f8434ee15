import Archive
import ConstruirSystem
import Foundation
import JobModel

/// The limits one job runs under: the runner's defaults, overridden by the job's manifest.
package struct EffectiveLimits: Sendable, Equatable {
    package var timeout: Duration
    package var memoryMiB: Int
    package var cpus: Int
    package var outputSize: Int64

    /// Applies `manifest` to the defaults in `options`, or says why the job is refused.
    static func resolve(options: RunnerOptions, manifest: JobManifest?, jobSize: Int64) throws(ConstruirError) -> EffectiveLimits {
        let policy = options.policy
        var limits = EffectiveLimits(timeout: options.timeout, memoryMiB: options.memoryMiB, cpus: options.cpus,
                                     outputSize: min(max(jobSize, options.minimumOutputSize), policy.maxOutputSize))
        guard let manifest else { return limits.rounded() }
        func refuse(_ what: String, _ asked: String, _ cap: String, _ option: String) -> ConstruirError {
            ConstruirError(.limitExceeded, "the job asks for \(what) \(asked), more than this runner allows (\(cap), \(option))")
        }
        if let timeout = manifest.timeout {
            guard timeout <= policy.maxTimeout else {
                throw refuse("a timeout of", Units.format(timeout), Units.format(policy.maxTimeout), "--max-timeout")
            }
            limits.timeout = timeout
        }
        if let bytes = manifest.memoryBytes {
            let mib = Int((bytes + (1 << 20) - 1) >> 20)
            guard mib <= policy.maxMemoryMiB else { throw refuse("memory", "\(mib) MiB", "\(policy.maxMemoryMiB) MiB", "--max-memory") }
            guard mib >= 64 else { throw ConstruirError(.invalidArgument, "the job asks for \(mib) MiB of memory; at least 64 MiB is needed") }
            limits.memoryMiB = mib
        }
        if let cpus = manifest.cpus {
            guard cpus <= policy.maxCpus else { throw refuse("cpus:", "\(cpus)", "\(policy.maxCpus)", "--max-cpus") }
            limits.cpus = cpus
        }
        if let size = manifest.outputSize {
            guard size <= policy.maxOutputSize else {
                throw refuse("an output size of", "\(size) bytes", "\(policy.maxOutputSize) bytes", "--max-output-size")
            }
            limits.outputSize = max(limits.outputSize, size)
        }
        return limits.rounded()
    }

    private func rounded() -> EffectiveLimits {
        var copy = self
        copy.outputSize = Units.roundUp(outputSize, to: 4096)
        return copy
    }
}
