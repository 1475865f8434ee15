import ArgumentParser
@testable import ConstruirCLI
import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import Runner

/// An ordinary user made for one test and removed afterwards (needs root: useradd/userdel).
struct TemporaryUser {
    let name: String
    let uid: uid_t
    let gid: gid_t

    init() async throws {
        name = "construir-t\(getpid())"
        _ = try await runTool(["userdel", name])  // a leftover of an earlier, killed run
        let (status, _) = try await runTool(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                       "--shell", "/usr/sbin/nologin", "--user-group", name])
        guard status == 0, let entry = getpwnam(name) else { throw ConstruirTestError("useradd \(name) failed") }
        uid = entry.pointee.pw_uid
        gid = entry.pointee.pw_gid
    }

    func remove() { _ = try? runToolBlocking(["userdel", name]) }  // from a defer

    /// Runs `arguments` as this user (no supplementary groups beyond its own), with HOME set.
    func run(_ arguments: [String], home: String) async throws -> (status: Int32, output: String) {
        try await runTool(["setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--reset-env", "--",
                     "/usr/bin/env", "HOME=\(home)", "PATH=/usr/bin:/bin"] + arguments)
    }
}

/// The construir binary of this build (the test bundle sits beside it), built if missing.
func construirBinary(repository: String) async throws -> String {
    let bundleDirectory = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
    for candidate in ["\(bundleDirectory)/construir", "\(repository)/.build/debug/construir"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    let (status, _) = try await runTool(["swift", "build", "--product", "construir"], in: repository)
    guard status == 0 else { throw ConstruirTestError("swift build --product construir failed") }
    return "\(repository)/.build/debug/construir"
}

extension VMSuites {
/// Volunteer mode: the runner as an ordinary user, and `construir doctor`.
@Suite(.serialized) struct VolunteerIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let imagesDirectory = "\(repository)/images"

    private func requireImage() throws {
        try requireImage0()
    }

    /// A copy of image 0 that anyone can read, under `dir/images/0`.
    private func copyImage0(to dir: String) async throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/images", withIntermediateDirectories: true)
        let (status, _) = try await runTool(["cp", "-r", "\(Self.imagesDirectory)/0", "\(dir)/images/0"])
        guard status == 0 else { throw ConstruirTestError("copying image 0 failed") }
        _ = try await runTool(["chmod", "-R", "u=rwX,go=rX", "\(dir)/images"])
    }

    @Test(.enabled(if: getuid() == 0, "skipped: creating the unprivileged test user needs root (useradd); run the tests as root"))
    func runsAJobAsAnUnprivilegedUser() async throws {
        try requireImage()
        let binary = try await construirBinary(repository: Self.repository)
        let user = try await TemporaryUser()
        defer { user.remove() }
        try await withTemporaryDirectory { dir in
            chmod(dir, 0o755)
            try FileManager.default.createDirectory(atPath: "\(dir)/bin", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: binary, toPath: "\(dir)/bin/construir")
            chmod("\(dir)/bin", 0o755)
            chmod("\(dir)/bin/construir", 0o755)
            try await copyImage0(to: dir)
            for sub in ["queue", "done", "home"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
                #expect(chown("\(dir)/\(sub)", user.uid, user.gid) == 0)
            }
            let (packed, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/hello", "\(dir)/queue/hello_i0.tar.xz"])
            #expect(packed == 0)
            #expect(chown("\(dir)/queue/hello_i0.tar.xz", user.uid, user.gid) == 0)
            let common = ["--queue", "\(dir)/queue", "--done", "\(dir)/done", "--images", "\(dir)/images"]

            // The user is really unprivileged: it cannot read root's files.
            let (peek, _) = try await user.run(["cat", "/etc/shadow"], home: "\(dir)/home")
            #expect(peek != 0)

            // doctor is content (TCG without /dev/kvm access is only a warning).
            let doctor = try await user.run(["\(dir)/bin/construir", "doctor"] + common, home: "\(dir)/home")
            #expect(doctor.status == 0, "\(doctor.output)")
            #expect(doctor.output.contains("ok   user"), "\(doctor.output)")

            let run = try await user.run(["\(dir)/bin/construir", "run", "--exit-when-idle", "--memory", "512M", "--timeout", "4m"] + common,
                                   home: "\(dir)/home")
            #expect(run.status == 0)
            let result = try readResult("\(dir)/done/hello")
            #expect(result.status == .passed, "\(result)")
            let greeting = try String(contentsOfFile: "\(dir)/done/hello/output/hello.txt", encoding: .utf8)
            #expect(greeting.contains("hello from construir"))
            // Everything it wrote belongs to the user.
            var st = stat()
            #expect(stat("\(dir)/done/hello/result.json", &st) == 0 && st.st_uid == user.uid)
            #expect(stat("\(dir)/done/hello/output/hello.txt", &st) == 0 && st.st_uid == user.uid)

            // A queue the user cannot write: doctor fails and names the fix.
            #expect(chown("\(dir)/queue", 0, 0) == 0)
            chmod("\(dir)/queue", 0o755)
            let broken = try await user.run(["\(dir)/bin/construir", "doctor"] + common, home: "\(dir)/home")
            #expect(broken.status != 0)
            #expect(broken.output.contains("FAIL queue"), "\(broken.output)")
            #expect(broken.output.contains("fix: chown \(user.name) \(dir)/queue"), "\(broken.output)")
        }
    }

    @Test func doctorPassesOnAGoodSetup() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let checks = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: Self.imagesDirectory).run()
            #expect(!checks.contains { $0.level == .failure }, "\(Doctor.format(checks))")
            #expect(checks.contains { $0.subject == "image 0" && $0.level == .ok })
            #expect(checks.contains { $0.subject == "QEMU" && $0.level == .ok })
            #expect(checks.contains { $0.subject == "libvirt" && $0.level == .ok })
            // The command itself exits 0.
            let command = try DoctorCommand.parse(["--queue", "\(dir)/queue", "--done", "\(dir)/done", "--images", Self.imagesDirectory])
            try command.run()
        }
    }

    @Test func doctorFailsWithoutImages() async throws {
        try await withTemporaryDirectory { dir in
            let checks = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: "\(dir)/missing").run()
            let images = try #require(checks.first { $0.subject == "images" })
            #expect(images.level == .failure)
            #expect(images.fix?.contains("build image 0") == true)
            let command = try DoctorCommand.parse(["--queue", "\(dir)/queue", "--done", "\(dir)/done", "--images", "\(dir)/missing"])
            #expect(throws: ExitCode.failure) { try command.run() }
        }
    }

    @Test func doctorFailsOnATamperedImage() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try await copyImage0(to: dir)
            // One byte of the initramfs changed, size and everything else the same.
            let handle = try #require(FileHandle(forUpdatingAtPath: "\(dir)/images/0/initrd.img"))
            try handle.seek(toOffset: 4096)
            let byte = try #require(try handle.read(upToCount: 1)?.first)
            try handle.seek(toOffset: 4096)
            try handle.write(contentsOf: [byte ^ 0xFF])
            try handle.close()
            let checks = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: "\(dir)/images").run()
            let image = try #require(checks.first { $0.subject == "image 0" })
            #expect(image.level == .failure)
            #expect(image.detail.contains("initrd.img"), "\(image.detail)")
            #expect(image.fix?.contains("construir image build 0") == true)
        }
    }

    @Test func doctorFailsWhenTheQueueIsNotADirectoryOrStateIsElsewhere() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/queue"))
            let checks = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: Self.imagesDirectory).run()
            let queue = try #require(checks.first { $0.subject == "queue" })
            #expect(queue.level == .failure)
            #expect(queue.detail.contains("not a directory"))
        }
        // /dev/shm is another filesystem than /tmp's test directory on this machine kind.
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            var queueStat = stat(), shmStat = stat()
            guard stat("\(dir)/queue", &queueStat) == 0, stat("/dev/shm", &shmStat) == 0, queueStat.st_dev != shmStat.st_dev else { return }
            let checks = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: Self.imagesDirectory, state: "/dev/shm").run()
            let state = try #require(checks.first { $0.subject == "state" })
            #expect(state.level == .failure)
            #expect(state.fix?.contains("same filesystem") == true)
        }
    }

    @Test func runningAsRootWarnsUnlessAllowed() throws {
        #expect(RunCommand.rootWarning(euid: 0, allowRoot: false)?.contains("--allow-root") == true)
        #expect(RunCommand.rootWarning(euid: 0, allowRoot: true) == nil)
        #expect(RunCommand.rootWarning(euid: 1000, allowRoot: false) == nil)
        #expect(try RunCommand.parse(["--allow-root"]).allowRoot)
    }

    @Test func tcgOnlyIsAWarningThatNamesTheFix() async throws {
        try await withTemporaryDirectory { dir in
            var doctor = Doctor(queue: "\(dir)/queue", done: "\(dir)/done", images: Self.imagesDirectory)
            doctor.kvmDevice = "\(dir)/no-kvm"
            let acceleration = try #require(doctor.run().first { $0.subject == "acceleration" })
            #expect(acceleration.level == .warning)
            #expect(acceleration.fix?.contains("kvm_intel") == true)
            // A device that is there and read-write but no hardware module: load the module.
            doctor.kvmDevice = "/dev/null"
            doctor.sysModuleRoot = dir
            let noModule = try #require(doctor.run().first { $0.subject == "acceleration" })
            #expect(noModule.level == .warning)
            #expect(noModule.fix?.contains("modprobe") == true)
        }
    }
}
}
