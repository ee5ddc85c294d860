/// A strict RFC 8259 parser into ``JSONValue`` that refuses duplicate object keys.
///
/// `JSONDecoder` keeps one of two equal keys silently; a validator in front of the worker that
/// keeps the other could then be bypassed (`{"callback_url": "https://ok", "callback_url":
/// "http://internal"}`). Keys are compared after unescaping (`"a"` and `"\u0061"` are the same).
/// Nesting is limited to ``maxDepth`` so a hostile body cannot exhaust the stack.
public enum JSONParser {
    /// Arrays and objects nested deeper than this are refused.
    public static let maxDepth = 64

    /// Why a body is not acceptable JSON.
    public enum Failure: Error, Sendable, Hashable {
        /// Not JSON (or not UTF-8, or a number out of range); the byte offset where it went wrong.
        case invalid(offset: Int)
        /// A key that appears twice in one object; the keys leading to it (`["caption_style", "font"]`).
        case duplicateKey(path: [String])
        /// Nested deeper than ``JSONParser/maxDepth``.
        case tooDeep
    }

    /// Parses a whole document (surrounding whitespace allowed).
    /// - Throws: ``Failure``.
    public static func parse(_ bytes: [UInt8]) throws(Failure) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0, path: [])
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw .invalid(offset: reader.index) }
        return value
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: String) throws(Failure) {
            for byte in literal.utf8 {
                guard current == byte else { throw .invalid(offset: index) }
                index += 1
            }
        }

        mutating func value(depth: Int, path: [String]) throws(Failure) -> JSONValue {
            switch current {
            case UInt8(ascii: "{"): return try object(depth: depth + 1, path: path)
            case UInt8(ascii: "["): return try array(depth: depth + 1, path: path)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int, path: [String]) throws(Failure) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw .tooDeep }
            index += 1
            var members = [String: JSONValue]()
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw .invalid(offset: index) }
                let key = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                let member = try value(depth: depth, path: path + [key])
                guard members.updateValue(member, forKey: key) == nil else { throw .duplicateKey(path: path + [key]) }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(members)
                default: throw .invalid(offset: index)
                }
            }
        }

        mutating func array(depth: Int, path: [String]) throws(Failure) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw .tooDeep }
            index += 1
            var items = [JSONValue]()
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth, path: path))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(items)
                default: throw .invalid(offset: index)
                }
            }
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, finite as a Double.
        mutating func number() throws(Failure) -> Double {
            let start = index
            func digits(_ reader: inout Reader) -> Int {
                var count = 0
                while let byte = reader.current, byte >= 0x30, byte <= 0x39 {
                    reader.index += 1
                    count += 1
                }
                return count
            }
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else {
                guard digits(&self) > 0 else { throw .invalid(offset: index) }
            }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits(&self) > 0 else { throw .invalid(offset: index) }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits(&self) > 0 else { throw .invalid(offset: index) }
            }
            guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)), value.isFinite else {
                throw .invalid(offset: start)
            }
            return value
        }

        /// A string with its escapes resolved; raw control characters, bad escapes, lone
        /// surrogates and invalid UTF-8 are refused.
        mutating func string() throws(Failure) -> String {
            let start = index
            index += 1
            var out = [UInt8]()
            while true {
                guard let byte = current else { throw .invalid(offset: index) }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: out, as: UTF8.self) else { throw .invalid(offset: start) }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escape = current else { throw .invalid(offset: index) }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by a low one.
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw .invalid(offset: index) }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw .invalid(offset: index) }
                        out.append(contentsOf: String(Character(unicode)).utf8)
                    default: throw .invalid(offset: index - 1)
                    }
                case 0..<0x20:
                    throw .invalid(offset: index)
                default:
                    out.append(byte)
                    index += 1
                }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current else { throw .invalid(offset: index) }
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw .invalid(offset: index)
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
