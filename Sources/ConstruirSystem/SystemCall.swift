import CConstruir
import Glibc

/// Runs a system call, retrying on EINTR, and throws `SystemError` on failure (a result of -1).
@discardableResult
@inline(__always)
package func systemCall<T: BinaryInteger>(_ name: String, path: String? = nil, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = errno
            if code == EINTR { continue }
            throw SystemError(call: name, errno: code, path: path)
        }
        return result
    }
}

/// The kernel's id of the calling thread (`/proc/self/task/TID`); glibc's `gettid` does not
/// reach Swift.
package func currentThreadID() -> pid_t {
    pid_t(construir_gettid())
}

/// Makes a `posix_spawn` close every descriptor from `lowest` up in the child, whether or not it
/// was opened close-on-exec; glibc's `posix_spawn_file_actions_addclosefrom_np` does not reach
/// Swift. Returns 0, or an error number as `posix_spawn` functions do.
package func spawnClosesDescriptors(from lowest: Int32, _ actions: inout posix_spawn_file_actions_t) -> Int32 {
    construir_spawn_close_from(&actions, lowest)
}
