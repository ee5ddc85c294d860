import Synchronization
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
        let (random16, random64) = entropy.withLock { $0.next80Bits() }
        let high = (UInt64(truncatingIfNeeded: time.milliseconds) << 16) | UInt64(random16)
        return EventID(high: high, low: random64)
    }

    /// The system's random bytes, read 250 at a time (`getentropy` gives at most 256 per call):
    /// one system call per 25 ids instead of two per id. A system call costs ~0.8 µs in the VMs
    /// measured, and an id is made for every event stored. Each byte is handed out once, under
    /// the lock.
    private static let entropy = Mutex(EntropyBuffer())

    private struct EntropyBuffer: ~Copyable {
        private var bytes = [UInt8](repeating: 0, count: 250)
        private var position = 250

        mutating func next80Bits() -> (UInt16, UInt64) {
            if position + 10 > bytes.count {
                refill()
                position = 0
            }
            defer { position += 10 }
            return bytes.withUnsafeBytes { raw in
                (raw.loadUnaligned(fromByteOffset: position, as: UInt16.self),
                 raw.loadUnaligned(fromByteOffset: position + 2, as: UInt64.self))
            }
        }

        private mutating func refill() {
            let filled = bytes.withUnsafeMutableBytes { getentropy($0.baseAddress, $0.count) } == 0
            guard !filled else { return }
            // Not expected (the kernel's generator is always there); fall back to the stdlib's.
            var generator = SystemRandomNumberGenerator()
            for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        }
    }

    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// `evt_` followed by the 26-character ULID.
    public var description: String {
        // Written into the string's own storage: one allocation (the text is made per attempt,
        // per log line and per stored change).
        String(unsafeUninitializedCapacity: Self.textLength) { buffer in
            write(to: buffer)
            return Self.textLength
        }
    }

    /// The length of ``description`` in bytes.
    public static let textLength = 30

    /// Appends the bytes of ``description`` to `out`, without making a string.
    public func appendText(to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: Self.textLength))
        out.withUnsafeMutableBufferPointer { buffer in
            write(to: UnsafeMutableBufferPointer(rebasing: buffer[start...]))
        }
    }

    /// Writes the bytes of ``description`` into `bytes` (at least ``textLength`` long), without
    /// making a string: for a stack buffer handed to C.
    public func writeText(to bytes: UnsafeMutableBufferPointer<UInt8>) {
        precondition(bytes.count >= Self.textLength)
        write(to: bytes)
    }

    private func write(to bytes: UnsafeMutableBufferPointer<UInt8>) {
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
