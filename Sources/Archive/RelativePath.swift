/// A validated path relative to the extraction root: no empty, `.` or `..` components.
struct RelativePath: Equatable, Sendable {
    var components: [[UInt8]]

    /// The path as bytes, components joined by `/`; empty for the root itself.
    var bytes: [UInt8] { Array(components.joined(separator: [UInt8(ascii: "/")])) }
}
