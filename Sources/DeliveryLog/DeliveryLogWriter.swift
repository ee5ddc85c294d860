import Foundation
public import Metrics
public import WebhookCore
#if canImport(Glibc)
import Glibc
#endif

/// Appends delivery records to `<directory>/deliveries.jsonl`, one JSON object per line.
///
/// ``record(_:)`` only queues the record, so the dispatcher's actor neither formats lines nor
/// waits on the disk; a background queue formats whatever has gathered and writes it with one
/// `write(2)`, at most ``coalescing`` after the first record of the batch (waking that queue per
/// record cost a thread wake-up every few deliveries under load). When the file would pass
/// `maxFileBytes` it is renamed to `deliveries.jsonl.1` (older ones shift up to `keepFiles`) and a
/// new file is started, always between two whole lines, so no line is lost or split. A reader
/// following the file (`deliveries tail -f`) notices the rename by inode.
public final class DeliveryLogWriter: DeliveryObserver, @unchecked Sendable {
    // @unchecked: `pending`, `scheduled` and `closed` are guarded by `lock`; the file
    // descriptor, size and `chunk` are touched only on `queue`.
    private let lock = NSLock()
    private var pending: [DeliveryRecord] = []
    private var spare: [DeliveryRecord] = []
    private var chunk: [UInt8] = []
    /// The last record's URL and its redacted form: consecutive records mostly share a callback.
    private var lastURL: String?
    private var lastRedactedURL = ""
    private var scheduled = false
    private var closed = false
    private let queue = DispatchQueue(label: "delivery-log.writer")
    private var descriptor: Int32 = -1
    private var fileSize = 0

    /// The file being written.
    public let path: String
    public let maxFileBytes: Int
    public let keepFiles: Int
    /// How long a record may wait for others before its batch is written.
    public let coalescing: Duration

    /// Opens (creating the directory if needed) the log for appending.
    /// - Parameters:
    ///   - directory: `<data dir>/logs`.
    ///   - maxFileBytes: rotate past this size (default 64 MiB).
    ///   - keepFiles: rotated files kept (default 5).
    ///   - coalescing: how long a record may wait for others before its batch is written
    ///     (default 5 ms); ``flush()`` and ``close()`` write at once.
    /// - Throws: `DeliveryLogError` when the directory or file cannot be opened.
    /// `clipping_worker_delivery_log_failed_lines_total`: lines that could not be written.
    private let failedLines: Counter

    public init(
        directory: String, maxFileBytes: Int = 64 << 20, keepFiles: Int = 5, coalescing: Duration = .milliseconds(5),
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) throws {
        self.coalescing = coalescing
        failedLines = Counter(label: "clipping_worker_delivery_log_failed_lines_total", factory: metricsFactory)
        self.path = directory + "/deliveries.jsonl"
        self.maxFileBytes = max(4096, maxFileBytes)
        self.keepFiles = max(1, keepFiles)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DeliveryLogError(message: "cannot create \(directory): \(error)")
        }
        try openFile()
    }

    public func record(_ record: DeliveryRecord) {
        lock.lock()
        guard !closed else {
            lock.unlock()
            return
        }
        pending.append(record)
        let start = !scheduled
        scheduled = true
        lock.unlock()
        if start {
            let (seconds, attoseconds) = coalescing.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { self.drain() }
        }
    }

    /// Writes every queued line now and returns when they are written.
    public func flush() {
        // A drain still scheduled for later finds nothing left and returns.
        queue.sync { drain() }
    }

    /// Writes what is queued and closes the file; later records are ignored.
    public func close() {
        lock.lock()
        closed = true
        lock.unlock()
        queue.sync {
            // Every record taken before `closed` is written; a drain scheduled for later finds none.
            drain()
            if descriptor >= 0 { Glibc.close(descriptor) }
            descriptor = -1
        }
    }

    private func openFile() throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw DeliveryLogError(message: "cannot open \(path): errno \(errno)") }
        var info = stat()
        fstat(fd, &info)
        // Operators' group may read the log, no one else (it names jobs and receivers): a file
        // left wider by an earlier version or another umask is narrowed, never widened.
        if info.st_mode & 0o137 != 0 { fchmod(fd, info.st_mode & 0o640) }
        descriptor = fd
        fileSize = Int(info.st_size)
    }

    private func drain() {
        while true {
            lock.lock()
            if pending.isEmpty {
                scheduled = false
                lock.unlock()
                return
            }
            // Swap the two arrays so neither side allocates in the steady state.
            swap(&pending, &spare)
            lock.unlock()
            chunk.removeAll(keepingCapacity: true)
            for record in spare {
                if record.url != lastURL {
                    lastURL = record.url
                    lastRedactedURL = URLRedaction.redact(record.url)
                }
                DeliveryLogLine.appendJSONLine(for: record, redactedURL: lastRedactedURL, to: &chunk)
            }
            spare.removeAll(keepingCapacity: true)
            write(chunk)
        }
    }

    /// Writes whole lines in as few `write(2)` calls as possible, rotating between lines when
    /// the file would pass the limit (a single line larger than the limit still goes out whole).
    private func write(_ chunk: [UInt8]) {
        var runStart = 0
        var position = 0
        while position < chunk.count {
            let lineEnd = chunk[position...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? chunk.count
            let runBytes = position - runStart
            if fileSize + runBytes + (lineEnd - position) > maxFileBytes && fileSize + runBytes > 0 {
                writeAll(chunk[runStart..<position])
                rotate()
                runStart = position
            }
            position = lineEnd
        }
        writeAll(chunk[runStart..<position])
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        // A reopen that failed at rotation (or a vanished directory) is retried with each batch,
        // so the log resumes once the disk lets it.
        if descriptor < 0 { try? openFile() }
        guard descriptor >= 0 else {
            failedLines.increment(by: max(1, bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }))
            return
        }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    // A full or failing disk: count the lines lost; deliveries go on.
                    let lost = raw[offset...].reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                    failedLines.increment(by: max(1, lost))
                    return
                }
                offset += written
            }
        }
        fileSize += bytes.count
    }

    private func rotate() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
        let manager = FileManager.default
        try? manager.removeItem(atPath: "\(path).\(keepFiles)")
        if keepFiles > 1 {
            for index in stride(from: keepFiles - 1, through: 1, by: -1) {
                rename("\(path).\(index)", "\(path).\(index + 1)")
            }
        }
        rename(path, "\(path).1")
        try? openFile()
    }
}

/// The delivery log could not be opened.
public struct DeliveryLogError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
