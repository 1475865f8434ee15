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
}
