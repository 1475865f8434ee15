/// `count` bytes that xz compresses, but not to nothing: runs of text between pseudo-random
/// words. Deterministic per `seed`, and fast enough for tens of MiB.
package func mixedBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed | 1
    var result: [UInt8] = []
    result.reserveCapacity(count + 64)
    let text = Array("the decoder runs ahead of the consumer; ".utf8)
    while result.count < count {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        if state % 3 == 0 {
            result += text
        } else {
            withUnsafeBytes(of: state) { result += $0 }
        }
    }
    return Array(result.prefix(count))
}
