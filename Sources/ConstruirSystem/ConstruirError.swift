/// The one error type construir throws: a stable code for programs, a message for people,
/// and the underlying cause when there is one.
package struct ConstruirError: Error, Sendable, CustomStringConvertible {
    package struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        package var description: String { rawValue }

        package static let invalidArgument = Code(rawValue: "invalid_argument")
        package static let notFound = Code(rawValue: "not_found")
        package static let system = Code(rawValue: "system")
        package static let libvirt = Code(rawValue: "libvirt")
        package static let archive = Code(rawValue: "archive")
        package static let xz = Code(rawValue: "xz")
        package static let limitExceeded = Code(rawValue: "limit_exceeded")
        /// A filesystem is full (ENOSPC) or a quota is used up (EDQUOT): waiting may help.
        package static let noSpace = Code(rawValue: "no_space")
        package static let unsafeEntry = Code(rawValue: "unsafe_entry")
        package static let timeout = Code(rawValue: "timeout")
        package static let protocolViolation = Code(rawValue: "protocol_violation")
        package static let internalError = Code(rawValue: "internal")
        /// A path construir would keep private is someone else's, or writable by others.
        package static let untrustedPath = Code(rawValue: "untrusted_path")
    }

    package let code: Code
    package let message: String
    package let cause: (any Error & Sendable)?

    package init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    package var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}
