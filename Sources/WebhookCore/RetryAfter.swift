/// Parses `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
public enum RetryAfter {
    /// The delay the header asks for, measured from `now`, or nil when it is absent or unusable.
    /// A date in the past yields zero.
    public static func delay(_ header: String?, now: Timestamp) -> Duration? {
        guard let raw = header?.trimmingSpaces, !raw.isEmpty else { return nil }
        if raw.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard let seconds = Int64(raw) else { return .seconds(Int64.max / 2_000_000_000_000) }
            return .seconds(seconds)
        }
        guard let date = parseHTTPDate(raw) else { return nil }
        return .milliseconds(max(0, date.milliseconds - now.milliseconds))
    }

    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    private static let weekdays: Set<String> = [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
        "sunday",
    ]

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
    /// and asctime (`Sun Nov  6 08:49:37 1994`).
    ///
    /// Every token must be one of these forms' (a weekday, a month, `GMT`, a 1–2 digit day, a 2 or
    /// 4 digit year from 0001, `HH:MM:SS`), each at most once: a header with anything else is not
    /// a date (the `retry-after` fuzz target found `6un` and year 0 read as a date before).
    static func parseHTTPDate(_ text: String) -> Timestamp? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "-" }).map(String.init)
        var day: Int?
        var month: Int?
        var year: Int?
        var clock: [Int]?
        var weekday = false
        var zone = false
        for part in parts {
            let lower = part.lowercased()
            let digits = !part.isEmpty && part.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
            if let index = months.firstIndex(of: lower), month == nil {
                month = index + 1
            } else if weekdays.contains(lower), !weekday {
                weekday = true
            } else if lower == "gmt", !zone {
                zone = true
            } else if part.contains(":"), clock == nil {
                let fields = part.split(separator: ":", omittingEmptySubsequences: false)
                guard fields.count == 3, fields.allSatisfy({ $0.utf8.count == 2 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } })
                else { return nil }
                clock = fields.compactMap { Int($0) }
            } else if digits, day == nil, part.utf8.count <= 2, let number = Int(part) {
                day = number
            } else if digits, year == nil, part.utf8.count == 2 || part.utf8.count == 4, let number = Int(part), number > 0 || part.utf8.count == 2 {
                year = part.utf8.count == 2 ? (number < 70 ? 2000 + number : 1900 + number) : number
            } else {
                return nil
            }
        }
        guard let day, let month, let year, let clock else { return nil }
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        let iso = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(clock[0], 2)):\(pad(clock[1], 2)):\(pad(clock[2], 2))Z"
        return Timestamp(iso8601: iso)
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
