/// One line of `git ls-tree -r -l`.
package struct GitTreeEntry: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        /// A regular file; `executable` for git mode 100755.
        case file(executable: Bool)
        /// A symbolic link (mode 120000): the blob is the target.
        case symlink
        /// A submodule (mode 160000): the object is a commit of another repository.
        case submodule
    }

    package let kind: Kind
    /// The object id (hex): a blob, or the submodule's commit.
    package let object: String
    /// The blob's size; nil for a submodule.
    package let size: Int64?
    /// The path from the top of the tree, raw bytes.
    package let path: [UInt8]

    /// Parses `MODE SP TYPE SP OBJECT SP+ SIZE TAB PATH`.
    init?(record: ArraySlice<UInt8>) {
        guard let tab = record.firstIndex(of: UInt8(ascii: "\t")) else { return nil }
        let fields = record[..<tab].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard fields.count == 4 else { return nil }
        let mode = String(decoding: fields[0], as: UTF8.self)
        switch mode {
        case "100644", "100664": kind = .file(executable: false)
        case "100755": kind = .file(executable: true)
        case "120000": kind = .symlink
        case "160000": kind = .submodule
        default: return nil
        }
        object = String(decoding: fields[2], as: UTF8.self)
        guard !object.isEmpty, object.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let sizeText = String(decoding: fields[3], as: UTF8.self)
        if kind == .submodule {
            size = nil
        } else {
            guard let value = Int64(sizeText), value >= 0 else { return nil }
            size = value
        }
        path = Array(record[(tab + 1)...])
        guard !path.isEmpty else { return nil }
    }

    package init(kind: Kind, object: String, size: Int64?, path: [UInt8]) {
        self.kind = kind
        self.object = object
        self.size = size
        self.path = path
    }
}
