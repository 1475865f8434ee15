/// The one error type construir throws: a stable code for programs, a message for people,
/// and the underlying cause when there is one.
public struct ConstruirError: Error, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidArgument = Code(rawValue: "invalid_argument")
        public static let notFound = Code(rawValue: "not_found")
        public static let system = Code(rawValue: "system")
        public static let libvirt = Code(rawValue: "libvirt")
        public static let archive = Code(rawValue: "archive")
        public static let xz = Code(rawValue: "xz")
        public static let limitExceeded = Code(rawValue: "limit_exceeded")
        /// A filesystem is full (ENOSPC) or a quota is used up (EDQUOT): waiting may help.
        public static let noSpace = Code(rawValue: "no_space")
        public static let unsafeEntry = Code(rawValue: "unsafe_entry")
        public static let timeout = Code(rawValue: "timeout")
        public static let protocolViolation = Code(rawValue: "protocol_violation")
        public static let internalError = Code(rawValue: "internal")
        /// A path construir would keep private is someone else's, or writable by others.
        public static let untrustedPath = Code(rawValue: "untrusted_path")
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}
