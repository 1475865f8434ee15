import Glibc

/// A failed system call: the call's name, errno, and what it was working on.
public struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32
    public let path: String?

    public init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "\(call)(\(path)): \(reason)" }
        return "\(call): \(reason)"
    }
}
