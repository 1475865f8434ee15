import Glibc
import Foundation

/// Directories construir keeps outside the queue (libvirt roots, their parents under /tmp or
/// `$XDG_RUNTIME_DIR`): this user's own, mode 0700, or refused.
///
/// Why: whoever can change such a directory can swap the embedded driver's qemu.conf (turning
/// QEMU's sandbox off) or plant symlinks where libvirt and QEMU, possibly as root, write logs,
/// sockets and pid files. A name under /tmp can be taken by anyone first, so an existing path is
/// only used after every part of it has been checked.
package enum PrivateDirectory {
    /// A new directory `DIR/PREFIXxxxxxx` with a name nobody had (mkdtemp), mode 0700.
    package static func makeUnique(in directory: String, prefix: String) throws -> String {
        var template = Array("\(directory)/\(prefix)XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!).map { String(cString: $0) } }
        guard let made else {
            throw ConstruirError(.system, "cannot create a temporary directory in \(directory): \(String(cString: strerror(errno)))")
        }
        return made
    }

    /// Creates `path` with mode 0700 (and any missing parent the same way), or, when it already
    /// exists, checks that it is a directory of this user's, not a symlink, and not writable by
    /// group or others. Every directory above it must belong to root or this user and be
    /// writable only by its owner, unless it is sticky (as /tmp is: nobody can rename or remove
    /// another's entries there). Throws an `untrustedPath` error naming the path and its owner.
    package static func make(_ path: String) throws {
        let target = FileSystem.absolute(path)
        guard target != "/" else { throw untrusted("/", "is the root directory") }
        let parent = (target as NSString).deletingLastPathComponent
        var st = stat()
        if lstat(parent, &st) != 0, errno == ENOENT { try make(parent) }
        guard let resolved = realpath(parent, nil) else {
            throw ConstruirError(.system, "cannot resolve \(parent): \(String(cString: strerror(errno)))")
        }
        let realParent = String(cString: resolved)
        free(resolved)
        try checkAncestors(realParent)
        let directory = (realParent == "/" ? "" : realParent) + "/" + (target as NSString).lastPathComponent
        if mkdir(directory, 0o700) == 0 { return }
        guard errno == EEXIST else {
            throw ConstruirError(.system, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        try checkOwned(directory)
    }

    /// Where this user's private runtime directories go: `$XDG_RUNTIME_DIR/construir` when that
    /// is set (a per-user tmpfs on systemd machines), else `$TMPDIR/construir-UID` (or
    /// /tmp/construir-UID). Not created here: pass it (or a path below it) to `make`.
    package static func runtimeBase(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") { return "\(runtime)/construir" }
        return "\(temporaryBase(environment: environment))/construir-\(geteuid())"
    }

    /// Where temporary directories go (`makeUnique`): `$TMPDIR` when it is an absolute path,
    /// else /tmp.
    package static func temporaryBase(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp"
    }

    /// Creates `path` (and missing parents) with mode 0700 inside a directory the caller already
    /// trusts as its own, such as the queue's state directory, whose ancestors may be shared (a
    /// queue a team writes to), or checks the existing `path` as `checkOwned` does.
    package static func makeInside(_ path: String) throws {
        try FileSystem.makeDirectory((path as NSString).deletingLastPathComponent, mode: 0o700)
        if mkdir(path, 0o700) != 0, errno != EEXIST {
            throw ConstruirError(.system, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        try checkOwned(path)
    }

    /// Checks that `path` is a directory of this user's, not a symlink, not writable by group or
    /// others.
    package static func checkOwned(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw ConstruirError(.system, "cannot inspect \(path): \(String(cString: strerror(errno)))")
        }
        if (st.st_mode & S_IFMT) == S_IFLNK { throw untrusted(path, "is a symbolic link (owned by \(userName(st.st_uid)))") }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw untrusted(path, "is not a directory") }
        guard st.st_uid == geteuid() else {
            throw untrusted(path, "is owned by \(userName(st.st_uid)), not by \(userName(geteuid()))")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw untrusted(path, "is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)), owner \(userName(st.st_uid)))")
        }
    }

    /// Every directory from / down to `path` (already resolved): owned by root or this user,
    /// and writable only by its owner unless sticky.
    static func checkAncestors(_ path: String) throws {
        var current = ""
        for component in [""] + path.split(separator: "/").map(String.init) {
            current = component.isEmpty ? "/" : (current == "/" ? "/" : current + "/") + component
            var st = stat()
            guard lstat(current, &st) == 0 else {
                throw ConstruirError(.system, "cannot inspect \(current): \(String(cString: strerror(errno)))")
            }
            guard st.st_uid == 0 || st.st_uid == geteuid() else {
                throw untrusted(current, "is owned by \(userName(st.st_uid)), not by root or \(userName(geteuid()))")
            }
            let sticky = st.st_mode & S_ISVTX != 0
            guard st.st_mode & 0o022 == 0 || sticky else {
                throw untrusted(current, "is writable by group or others (mode \(String(st.st_mode & 0o7777, radix: 8)), owner \(userName(st.st_uid)))")
            }
        }
    }

    private static func untrusted(_ path: String, _ reason: String) -> ConstruirError {
        ConstruirError(.untrustedPath, "refusing to use \(path): it \(reason); another user could change what construir keeps there. Remove it, or point construir elsewhere (TMPDIR, XDG_RUNTIME_DIR or --state)")
    }

    /// "name (uid N)", or "uid N" for a uid with no passwd entry.
    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }
}
