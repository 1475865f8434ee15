import Glibc

/// A failed system call: the call's name, errno, and what it was working on.
package struct SystemError: Error, Sendable, CustomStringConvertible, Equatable {
    package let call: String
    package let errno: Int32
    package let path: String?

    package init(call: String, errno: Int32, path: String? = nil) {
        self.call = call
        self.errno = errno
        self.path = path
    }

    package var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "\(call)(\(path)): \(reason)" }
        return "\(call): \(reason)"
    }
}
