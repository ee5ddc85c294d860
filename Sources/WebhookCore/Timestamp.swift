#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant in Unix milliseconds.
///
/// Stored times (next attempt, creation, log lines) must survive a restart, so they are wall-clock
/// values rather than monotonic instants; integer milliseconds keep them exact in SQLite and JSON.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64

    /// Creates a timestamp from Unix milliseconds.
    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Creates a timestamp from (possibly fractional) Unix seconds.
    public init(seconds: Double) {
        self.milliseconds = Int64((seconds * 1000).rounded())
    }

    /// Whole Unix seconds, as sent in `webhook-timestamp`.
    public var unixSeconds: Int64 {
        // Rounded down without the overflow of `(milliseconds - 999) / 1000` at Int64.min.
        milliseconds / 1000 - (milliseconds % 1000 < 0 ? 1 : 0)
    }

    /// The range ISO 8601 text can show: 0001-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z.
    /// A stored value outside it (a corrupt row) is shown clamped rather than crashing a request.
    static let printableRange: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// This instant moved by `duration`.
    public func advanced(by duration: Duration) -> Timestamp {
        Timestamp(milliseconds: milliseconds + duration.wholeMilliseconds)
    }

    /// The time from `self` to `other` (negative when `other` is earlier).
    public func duration(to other: Timestamp) -> Duration {
        .milliseconds(other.milliseconds - milliseconds)
    }

    /// ISO 8601 UTC with milliseconds, e.g. `2025-01-15T10:31:00.000Z` (SPEC section 5).
    public var iso8601: String {
        var buffer = [UInt8](repeating: 0, count: 24)
        writeISO8601(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Writes the 24 bytes of ``iso8601`` into `buffer`: over its first 24 bytes when it has
    /// exactly 24, else appended. No intermediate array (this runs per delivery-log line).
    public func writeISO8601(into buffer: inout [UInt8]) {
        let clamped = Timestamp(milliseconds: min(max(milliseconds, Self.printableRange.lowerBound), Self.printableRange.upperBound))
        let ms = Int(((clamped.milliseconds % 1000) + 1000) % 1000)
        var seconds = time_t(clamped.unixSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let overwrite = buffer.count == 24
        var index = 0
        func put(_ byte: UInt8) {
            if overwrite { buffer[index] = byte } else { buffer.append(byte) }
            index += 1
        }
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var v = value
            while divisor > 0 {
                put(UInt8(ascii: "0") + UInt8((v / divisor) % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4); put(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2); put(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2); put(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2); put(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2); put(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2); put(UInt8(ascii: "."))
        digits(ms, 3); put(UInt8(ascii: "Z"))
    }

    public var description: String { iso8601 }
}

extension Duration {
    /// The duration in whole milliseconds, rounded toward zero.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The duration in (fractional) seconds.
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
        func num(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for i in from..<(from + count) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
            let minute = num(14, 2), let second = num(17, 2), (1...12).contains(month), (1...31).contains(day),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var millis = 0
        if b[19] == UInt8(ascii: ".") {
            var scale = 100
            var i = 20
            while i < b.count - 1 {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                millis += Int(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        } else if b.count != 20 {
            return nil
        }
        // Days from civil (Howard Hinnant's algorithm), avoiding timegm's locale/TZ dependence.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(milliseconds: seconds * 1000 + Int64(millis))
    }
}
