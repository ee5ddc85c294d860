import Foundation

/// Reads a delivery-log file as a stream of lines, 64 KiB at a time.
enum LogFileReader {
    /// Calls `body` with each complete line (without its newline), or with nil for a line that is
    /// not valid UTF-8. A missing file reads as empty.
    /// - Returns: the bytes read (where a follower continues).
    static func forEachLine(of path: String, _ body: (String?) -> Void) -> Int64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        var pending = [UInt8]()
        var total: Int64 = 0
        func emit(_ bytes: ArraySlice<UInt8>) {
            guard !bytes.isEmpty else { return }
            body(String(validating: bytes, as: UTF8.self))
        }
        while let chunk = try? handle.read(upToCount: 64 << 10), !chunk.isEmpty {
            total += Int64(chunk.count)
            pending.append(contentsOf: chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[start..<newline])
                start = newline + 1
            }
            pending.removeFirst(start - pending.startIndex)
        }
        // A last line without its newline (being written) is left for the follower.
        return total - Int64(pending.count)
    }
}
