#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An event's id, `evt_` + 26 Crockford base32 characters (a ULID: 48-bit milliseconds + 80 random bits).
///
/// Stored as two integers so that 100,000 pending events cost no heap allocation each; the text
/// form is made only when a request or a log line needs it. Ids sort by creation time.
public struct EventID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The high 64 bits: 48 bits of milliseconds, then 16 random bits.
    public let high: UInt64
    /// The low 64 random bits.
    public let low: UInt64

    /// Creates an id from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A new id for an event created at `time`.
    public static func generate(at time: Timestamp) -> EventID {
        var generator = SystemRandomNumberGenerator()
        let random16 = UInt64(UInt16.random(in: .min ... .max, using: &generator))
        let high = (UInt64(truncatingIfNeeded: time.milliseconds) << 16) | random16
        return EventID(high: high, low: generator.next())
    }

    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// `evt_` followed by the 26-character ULID.
    public var description: String {
        var bytes = [UInt8](repeating: 0, count: 30)
        bytes[0] = UInt8(ascii: "e")
        bytes[1] = UInt8(ascii: "v")
        bytes[2] = UInt8(ascii: "t")
        bytes[3] = UInt8(ascii: "_")
        // 128 bits → 26 five-bit groups, most significant first (the first group holds 3 bits).
        for index in 0..<26 {
            let shift = 125 - index * 5
            let value: UInt64
            if shift >= 64 {
                value = high >> UInt64(shift - 64)
            } else if shift > 59 {
                value = (high << UInt64(64 - shift)) | (low >> UInt64(shift))
            } else {
                value = low >> UInt64(shift)
            }
            bytes[4 + index] = Self.alphabet[Int(value & 0x1F)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `evt_<26 base32>`; returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 30, utf8[0...3].elementsEqual("evt_".utf8) else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<26 {
            var char = utf8[4 + index]
            if char >= UInt8(ascii: "a") && char <= UInt8(ascii: "z") { char -= 32 }
            guard let digit = Self.alphabet.firstIndex(of: char) else { return nil }
            if index == 0 && digit > 7 { return nil }
            // Shift the 128-bit value left by 5 and add the digit.
            high = (high << 5) | (low >> 59)
            low = (low << 5) | UInt64(digit)
        }
        self.init(high: high, low: low)
    }

    public static func < (lhs: EventID, rhs: EventID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}
