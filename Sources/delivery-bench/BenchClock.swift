#if canImport(Glibc)
import Glibc
#endif

/// Monotonic nanoseconds, comparable across threads of this process (CLOCK_MONOTONIC).
func monotonicNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
}

/// Peak resident set size of this process in MiB (getrusage reports KiB on Linux).
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The resident set now, split into anonymous memory (heap, stacks: what the process made) and
/// file-backed pages (the binary and shared libraries, shared and clean), in MiB, from
/// /proc/self/status. Peak RSS counts both; the split says which one a change moved.
func residentSplitMiB() -> (anonymous: Double, files: Double) {
    guard let file = fopen("/proc/self/status", "r") else { return (0, 0) }
    defer { fclose(file) }
    var (anonymous, files) = (0.0, 0.0)
    var buffer = [CChar](repeating: 0, count: 256)
    while fgets(&buffer, Int32(buffer.count), file) != nil {
        let line = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        // "RssAnon:\t   24980 kB"
        let kib = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Double($0) } ?? 0
        if line.hasPrefix("RssAnon:") { anonymous = kib / 1024 }
        if line.hasPrefix("RssFile:") { files = kib / 1024 }
    }
    return (anonymous, files)
}

/// User + system CPU seconds used by this process.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Voluntary plus involuntary context switches of this process so far: each thread hand-off
/// that puts a thread to sleep costs one, which CPU time alone does not show.
func contextSwitches() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_nvcsw + usage.ru_nivcsw
}

/// Finds `"current_step":"t=<digits>` in a body and returns the digits (the enqueue time).
func enqueueStamp(in body: [UInt8]) -> Int64? {
    let marker = Array(#""current_step":"t="#.utf8)
    guard body.count > marker.count else { return nil }
    var index = 0
    while index + marker.count < body.count {
        if body[index] == marker[0], Array(body[index..<(index + marker.count)]) == marker {
            var value: Int64 = 0
            var position = index + marker.count
            while position < body.count, body[position] >= 48, body[position] <= 57 {
                value = value * 10 + Int64(body[position] - 48)
                position += 1
            }
            return value
        }
        index += 1
    }
    return nil
}
