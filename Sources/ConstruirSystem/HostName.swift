import Glibc

/// This machine's name as gethostname(2) has it: Foundation's `hostName` may ask a resolver,
/// and a build host may have none.
package enum HostName {
    /// The name, or "localhost" when the kernel gives none.
    package static func current() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The machine's architecture as uname(2) has it (`x86_64`, `aarch64`).
    package static func machine() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
