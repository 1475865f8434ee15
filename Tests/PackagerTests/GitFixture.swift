import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport
import XZ

/// The committer (and author) time of every test commit: 2023-11-14T22:13:20Z.
let commitTime: Int64 = 1_700_000_000

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs git with a fixed identity and fixed dates, failing the test if git fails.
@discardableResult
func git(_ arguments: [String], in directory: String) async throws -> String {
    let environment = [
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "GIT_AUTHOR_DATE": "\(commitTime) +0000", "GIT_COMMITTER_DATE": "\(commitTime) +0000",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
    ]
    let (status, output) = try await runTool(["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"] + arguments,
                                       in: directory, environment: environment)
    guard status == 0 else { throw FixtureError("git \(arguments.joined(separator: " ")) failed in \(directory) (\(status))") }
    return output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Writes `text` to `path` (creating directories), optionally executable.
func writeFile(_ path: String, _ text: String, executable: Bool = false) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: path)
}

/// A repository at `path` with a `construir` script, the given files and one commit.
func makeRepository(at path: String, files: [String: String] = [:], executables: Set<String> = [],
                    script: String = "#!/bin/bash\necho building\n") async throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try await git(["init", "-q"], in: path)
    try writeFile("\(path)/construir", script, executable: true)
    for (name, text) in files {
        try writeFile("\(path)/\(name)", text, executable: executables.contains(name))
    }
    try await git(["add", "-A"], in: path)
    try await git(["commit", "-q", "-m", "first"], in: path)
}

/// Packages with the defaults tests want: into `queue`, no images directory check noise.
@discardableResult
func package(_ repository: String, into queue: String, revision: String = "HEAD", images: [Int] = [0],
             environment: [EnvironmentVariable] = [], parameters: [EnvironmentVariable] = [], tags: [String] = [], threads: Int = 0, outputSize: Int64? = nil,
             recurseSubmodules: Bool = false, imagesDirectory: String? = nil) throws -> PackageResult {
    try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
    let request = PackageRequest(repository: repository, revision: revision, images: images,
                                 imagesDirectory: imagesDirectory ?? "\(queue)/no-images-here", outputSize: outputSize,
                                 destination: .directory(queue), environment: environment, parameters: parameters, tags: tags,
                                 recurseSubmodules: recurseSubmodules, threads: threads)
    return try JobPackager().package(request)
}

/// `tar -tv` of a job file (decompressing only its first xz stream, as the guest does).
func listing(_ job: String) async throws -> [String] {
    let (status, output) = try await runTool(["bash", "-c", "xz -dc --single-stream < \"$1\" | tar --numeric-owner --full-time -tvf -", "list", job])
    guard status == 0 else { throw FixtureError("cannot list \(job)") }
    return output.split(separator: "\n").map(String.init)
}

/// The names in a job file, in archive order.
func names(_ job: String) async throws -> [String] {
    let (status, output) = try await runTool(["bash", "-c", "xz -dc --single-stream < \"$1\" | tar -tf -", "list", job])
    guard status == 0 else { throw FixtureError("cannot list \(job)") }
    return output.split(separator: "\n").map(String.init)
}

/// Extracts a job file with GNU tar into `directory`.
func extract(_ job: String, to directory: String) async throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let (status, _) = try await runTool(["bash", "-c", "xz -dc --single-stream < \"$1\" | tar -xpf - -C \"$2\"", "extract", job, directory])
    guard status == 0 else { throw FixtureError("cannot extract \(job)") }
}

/// The wrapper script of a job file.
func wrapper(_ job: String) async throws -> String {
    let (status, output) = try await runTool(["bash", "-c", "xz -dc --single-stream < \"$1\" | tar -xOf - job/construir", "wrapper", job])
    guard status == 0 else { throw FixtureError("cannot read the wrapper of \(job)") }
    return output
}

func bytes(at path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Files in `directory` whose names start with a dot (temporary files left behind).
func dotfiles(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
}

/// Runs `body`, which must throw a `ConstruirError` with `code`; returns the error's message.
@discardableResult
func expectFailure(_ code: ConstruirError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () throws -> Void) -> String {
    let error = #expect(throws: ConstruirError.self, sourceLocation: sourceLocation) { try body() }
    #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
    return error?.description ?? ""
}
