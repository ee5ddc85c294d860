/// The text forms of signatures, written straight into a string's storage: base64 (standard
/// alphabet, padded) and lowercase hex. Foundation's `Data.base64EncodedString()` plus the
/// copies around it cost more than the hash they encode.
enum SignatureText {
    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The length of `count` bytes in padded base64.
    static func base64Length(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Writes `bytes` as padded base64 at `out`, which has room for ``base64Length(_:)`` bytes.
    /// - Returns: the number of bytes written.
    @discardableResult
    static func writeBase64(_ bytes: UnsafeRawBufferPointer, to out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var written = 0
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out[written] = base64Alphabet[Int(value >> 18)]
            out[written + 1] = base64Alphabet[Int(value >> 12 & 0x3F)]
            out[written + 2] = base64Alphabet[Int(value >> 6 & 0x3F)]
            out[written + 3] = base64Alphabet[Int(value & 0x3F)]
            written += 4
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            out[written] = base64Alphabet[Int(value >> 18)]
            out[written + 1] = base64Alphabet[Int(value >> 12 & 0x3F)]
            out[written + 2] = rest == 2 ? base64Alphabet[Int(value >> 6 & 0x3F)] : UInt8(ascii: "=")
            out[written + 3] = UInt8(ascii: "=")
            written += 4
        }
        return written
    }

    /// Writes `bytes` as lowercase hex at `out` (room for twice their count).
    static func writeHex(_ bytes: UnsafeRawBufferPointer, to out: UnsafeMutableBufferPointer<UInt8>) {
        for (index, byte) in bytes.enumerated() {
            out[2 * index] = hexDigits[Int(byte >> 4)]
            out[2 * index + 1] = hexDigits[Int(byte & 0x0F)]
        }
    }

    /// `prefix` followed by `body`'s bytes, in one allocation.
    static func string(
        prefix: StaticString, capacity: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Int
    ) -> String {
        String(unsafeUninitializedCapacity: prefix.utf8CodeUnitCount + capacity) { buffer in
            let head = prefix.utf8CodeUnitCount
            prefix.withUTF8Buffer { source in
                for index in 0..<head { buffer[index] = source[index] }
            }
            return head + body(UnsafeMutableBufferPointer(rebasing: buffer[head...]))
        }
    }
}
