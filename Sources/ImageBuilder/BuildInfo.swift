import ConstruirSystem
import Foundation

/// What the initramfs script reports in CONSTRUIR_INITRAMFS_ONLY mode (`build-info`).
struct BuildInfo: Equatable {
    var kernelVersion: String?
    var packages: [String] = []
    var values: [String: String] = [:]

    static func parse(contentsOf path: String) throws -> BuildInfo {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConstruirError(.notFound, "\(path) not found: the initramfs script did not finish")
        }
        return parse(String(decoding: data, as: UTF8.self))
    }

    static func parse(_ text: String) -> BuildInfo {
        var info = BuildInfo()
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals]), value = String(line[line.index(after: equals)...])
            if key == "package" { info.packages.append(value) } else { info.values[key] = value }
        }
        info.kernelVersion = info.values["kernel_version"]
        return info
    }
}
