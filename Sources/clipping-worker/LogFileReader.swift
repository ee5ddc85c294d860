import DeliveryLog
import Foundation

/// Reads a delivery-log file as a stream of lines, 64 KiB at a time.
enum LogFileReader {
    /// Calls `body` with each complete line (without its newline), or with nil for a line that is
    /// not valid UTF-8 or too long (``DeliveryLogLineReader``). A missing file reads as empty.
    /// - Parameter offset: where to start (a follower continues where it stopped).
    /// - Returns: the offset just past the last complete line (where a follower continues).
    static func forEachLine(of path: String, from offset: Int64 = 0, _ body: (String?) -> Void) -> Int64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return offset }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil else { return offset }
        var reader = DeliveryLogLineReader()
        var total = offset
        while let chunk = try? handle.read(upToCount: 64 << 10), !chunk.isEmpty {
            total += Int64(chunk.count)
            reader.feed(chunk, body)
        }
        // A last line without its newline (being written) is left for the follower.
        return total - Int64(reader.unfinishedBytes)
    }
}
