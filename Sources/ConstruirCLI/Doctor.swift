import ConstruirSystem
import Foundation
import JobModel
import VMHost

/// The checks behind `construir doctor`, separate from the command so tests can point them at
/// fake device and module paths.
package struct Doctor: Sendable {
    package struct Check: Sendable, Equatable {
        package enum Level: String, Sendable { case ok, warning, failure }
        package var level: Level
        package var subject: String
        package var detail: String
        /// What to do about it; nil when nothing needs doing.
        package var fix: String?
    }

    package var queue: String
    package var done: String
    package var images: String
    package var state: String
    package var kvmDevice = "/dev/kvm"
    package var sysModuleRoot = "/sys/module"
    /// Whether this user may read and write a device (a seam: root may open anything).
    package var canReadWrite: @Sendable (String) -> Bool = { access($0, R_OK | W_OK) == 0 }
    package var qemuBinary = "/usr/bin/qemu-system-x86_64"
    package var libvirtQemuDriver = "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
    /// Below this much free space on the queue's or done/'s filesystem the runner cannot work:
    /// every job needs room for its output disk and extracted output.
    package var minimumFreeBytes: Int64 = 256 << 20
    /// Below this, a warning.
    package var comfortableFreeBytes: Int64 = 4 << 30

    package init(queue: String, done: String, images: String, state: String? = nil) {
        self.queue = queue
        self.done = done
        self.images = images
        self.state = state ?? "\(queue)/.construir"
    }

    package func run() -> [Check] {
        [user(), acceleration(), qemu(), libvirt()] + imageChecks()
            + [directory(queue, role: "queue", create: true), directory(done, role: "done", create: true),
               stateDirectory(), freeSpace(queue, role: "queue"), freeSpace(done, role: "done")]
    }

    package static func format(_ checks: [Check]) -> String {
        var out = ""
        for check in checks {
            let mark = switch check.level { case .ok: "ok  "; case .warning: "WARN"; case .failure: "FAIL" }
            out += "\(mark) \(check.subject): \(check.detail)\n"
            if let fix = check.fix { out += "     fix: \(fix)\n" }
        }
        let failures = checks.filter { $0.level == .failure }.count
        let warnings = checks.filter { $0.level == .warning }.count
        out += failures > 0
            ? "construir cannot run jobs here: \(failures) check(s) failed, \(warnings) warning(s)\n"
            : "construir can run jobs here (\(warnings) warning(s))\n"
        return out
    }

    private func user() -> Check {
        if geteuid() == 0 {
            return Check(level: .warning, subject: "user", detail: "running as root",
                         fix: "run construir as a dedicated unprivileged user (see docs/volunteer.md)")
        }
        return Check(level: .ok, subject: "user", detail: "uid \(geteuid()), not root", fix: nil)
    }

    private func acceleration() -> Check {
        let (accel, reason) = Acceleration.detect(devicePath: kvmDevice, sysModuleRoot: sysModuleRoot)
        if accel == .kvm {
            return Check(level: .ok, subject: "acceleration", detail: "KVM: \(reason)", fix: nil)
        }
        let fix: String
        if !FileSystem.exists(kvmDevice) {
            fix = "enable virtualization (VT-x/AMD-V) in the firmware and load kvm_intel or kvm_amd"
        } else if !canReadWrite(kvmDevice) {
            var st = stat()
            let group = stat(kvmDevice, &st) == 0 ? getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) } : nil
            fix = Self.kvmAccessFix(device: kvmDevice, group: group, user: Self.userName)
        } else {
            fix = "load the hardware KVM module (modprobe kvm_intel or kvm_amd); a nested or paravirtual KVM is not used"
        }
        return Check(level: .warning, subject: "acceleration",
                     detail: "TCG software emulation only (slow, and not a security boundary): \(reason)", fix: fix)
    }

    /// How to let `user` open the KVM device owned by `group`. Only ever the `kvm` group: the
    /// device's own group may be root (or disk, or another that opens far more than /dev/kvm to
    /// the runner and to any job that escapes), so a device not in group kvm gets a udev rule
    /// that puts it there.
    static func kvmAccessFix(device: String, group: String?, user: String) -> String {
        let join = "sudo usermod -aG kvm \(user), then log in again"
        if group == "kvm" { return "let this user open \(device): \(join)" }
        return "give \(device) to group kvm (it is in group \(group ?? "unknown"); do not add \(user) to that group): "
            + "echo 'KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"' | sudo tee /etc/udev/rules.d/65-kvm.rules && "
            + "sudo groupadd -f --system kvm && sudo udevadm control --reload && sudo udevadm trigger --name-match=kvm; then \(join)"
    }

    private func qemu() -> Check {
        guard access(qemuBinary, X_OK) == 0 else {
            return Check(level: .failure, subject: "QEMU", detail: "\(qemuBinary) is missing or not executable",
                         fix: "sudo apt-get install qemu-system-x86")
        }
        let version = (try? Self.output(of: [qemuBinary, "--version"]))?.split(separator: "\n").first.map(String.init)
        return Check(level: .ok, subject: "QEMU", detail: "\(qemuBinary): \(version ?? "version unknown")", fix: nil)
    }

    private func libvirt() -> Check {
        let version = Hypervisor.libraryVersion
        let parts = version.split(separator: ".").compactMap { Int($0) }
        // The embedded QEMU driver (qemu:///embed) appeared in libvirt 6.1.
        if parts.count == 3, (parts[0], parts[1]) < (6, 1) {
            return Check(level: .failure, subject: "libvirt", detail: "libvirt \(version) has no embedded QEMU driver",
                         fix: "install libvirt 6.1 or newer (Debian 12 has 9.0)")
        }
        guard FileSystem.exists(libvirtQemuDriver) else {
            return Check(level: .failure, subject: "libvirt", detail: "libvirt \(version), but its QEMU driver \(libvirtQemuDriver) is missing",
                         fix: "sudo apt-get install libvirt-daemon-driver-qemu")
        }
        return Check(level: .ok, subject: "libvirt", detail: "libvirt \(version) with the QEMU driver", fix: nil)
    }

    private func imageChecks() -> [Check] {
        guard FileSystem.isDirectory(images) else {
            return [Check(level: .failure, subject: "images", detail: "\(images) does not exist or is not a directory",
                          fix: "build image 0 (scripts/quickstart, or images/build-image0.sh) or pass --images DIR")]
        }
        let store = ImageStore(root: images)
        let indexes = store.availableIndexes()
        guard !indexes.isEmpty else {
            return [Check(level: .failure, subject: "images", detail: "no build images in \(images) (no N/image.json)",
                          fix: "build image 0 (scripts/quickstart, or images/build-image0.sh) or pass --images DIR")]
        }
        return indexes.map { index in
            let subject = "image \(index)"
            let image: BuildImage
            do {
                image = try store.image(index)
            } catch {
                return Check(level: .failure, subject: subject, detail: "\(error)",
                             fix: "rebuild it: construir image build \(index)")
            }
            let verification = image.verify()
            if verification.isValid {
                return Check(level: .ok, subject: subject,
                             detail: "\(verification.files.count) files match image.json (digest \(verification.digest?.prefix(12) ?? "?"))", fix: nil)
            }
            return Check(level: .failure, subject: subject,
                         detail: "does not match its image.json: \(verification.problems.joined(separator: "; "))",
                         fix: "rebuild it (construir image build \(index)) or restore its files; jobs for it end in error")
        }
    }

    /// A directory the runner writes: it must exist (or be creatable) and be writable and
    /// searchable by this user.
    private func directory(_ path: String, role: String, create: Bool) -> Check {
        var st = stat()
        if lstat(path, &st) != 0 {
            let parent = (path as NSString).deletingLastPathComponent
            if create, access(parent, W_OK | X_OK) == 0 {
                return Check(level: .ok, subject: role, detail: "\(path) does not exist yet; the runner will create it", fix: nil)
            }
            return Check(level: .failure, subject: role, detail: "\(path) does not exist and cannot be created",
                         fix: "mkdir -p \(path) && chown \(Self.userName) \(path)")
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            return Check(level: .failure, subject: role, detail: "\(path) is not a directory",
                         fix: "move it away and create a directory \(path) owned by \(Self.userName)")
        }
        if access(path, W_OK | X_OK) != 0 {
            return Check(level: .failure, subject: role, detail: "\(path) is not writable by \(Self.userName)",
                         fix: "chown \(Self.userName) \(path) (or chmod u+rwx it)")
        }
        // The state directory (and often the libvirt root) lives in the queue: whoever may rename
        // entries there could swap it, or remove other submitters' jobs.
        if role == "queue", st.st_mode & 0o022 != 0, st.st_mode & S_ISVTX == 0 {
            return Check(level: .warning, subject: role,
                         detail: "\(path) is writable by group or others without the sticky bit (mode \(String(st.st_mode & 0o7777, radix: 8))): they can rename or remove other submitters' jobs and the runner's state directory",
                         fix: "chmod +t \(path), so submitters can add jobs but cannot rename or remove what is not theirs")
        }
        return Check(level: .ok, subject: role, detail: "\(path) is writable", fix: nil)
    }

    /// The state directory must be on the queue's filesystem: claiming a job is one rename.
    private func stateDirectory() -> Check {
        var stateStat = stat()
        var queueStat = stat()
        guard stat(queue, &queueStat) == 0 else {
            return Check(level: .ok, subject: "state", detail: "\(state) will be created with the queue", fix: nil)
        }
        if stat(state, &stateStat) != 0 {
            return directory(state, role: "state", create: true)
        }
        if stateStat.st_dev != queueStat.st_dev {
            return Check(level: .failure, subject: "state", detail: "\(state) is not on the queue's filesystem",
                         fix: "put the state directory on the same filesystem as \(queue) (the default QUEUE/.construir is)")
        }
        return directory(state, role: "state", create: false)
    }

    private func freeSpace(_ path: String, role: String) -> Check {
        var target = path
        while !FileSystem.exists(target), target != "/" { target = (target as NSString).deletingLastPathComponent }
        var fs = statvfs()
        guard statvfs(target, &fs) == 0 else {
            return Check(level: .warning, subject: "free space (\(role))", detail: "cannot stat the filesystem of \(path)", fix: nil)
        }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        let shown = "\(free >> 20) MiB free on the filesystem of \(path)"
        if free < minimumFreeBytes {
            return Check(level: .failure, subject: "free space (\(role))", detail: shown,
                         fix: "free at least \(minimumFreeBytes >> 20) MiB there, or move \(role) to a larger filesystem")
        }
        if free < comfortableFreeBytes {
            return Check(level: .warning, subject: "free space (\(role))", detail: shown,
                         fix: "jobs and their outputs need room; keep a few GiB free")
        }
        return Check(level: .ok, subject: "free space (\(role))", detail: shown, fix: nil)
    }

    private static var userName: String {
        guard let entry = getpwuid(geteuid()) else { return "uid \(geteuid())" }
        return String(cString: entry.pointee.pw_name)
    }

    private static func output(of arguments: [String]) throws -> String {
        let child = try ChildProcess(arguments, input: .null, output: .pipe, error: .null)
        let data = try child.readAll()
        child.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
