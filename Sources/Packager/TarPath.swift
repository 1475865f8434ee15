enum TarPath {
    static func printable(_ path: [UInt8]) -> String { "'\(String(decoding: path, as: UTF8.self))'" }
}
