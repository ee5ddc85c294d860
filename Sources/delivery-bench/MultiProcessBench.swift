import CurlTransport
import Foundation
import Synchronization
import WebhookCore
import WebhookTestSupport

/// The parent of a `--store postgres --workers N` run: runs the receiver, starts the N worker
/// processes, and reports what the receiver saw and where the CPU went (workers, this receiver,
/// and the rest of the machine: PostgreSQL mostly).
enum MultiProcessBench {
    static func run(_ options: BenchOptions) async throws {
        let latencies = LatencyRecorder()
        let receipts = ReceiptCounter()
        let server = try await ScriptedHTTPServer.start(threads: 1, record: false) { request in
            let now = monotonicNanoseconds()
            if let stamp = enqueueStamp(in: request.body) { latencies.add(nanoseconds: now - stamp) }
            receipts.add(at: now)
            return .noContent
        }
        let url = server.url()
        let capacity = await CurlHTTPClient.withClient(configuration: DeliveryBench.loopbackClient()) { client in
            await DeliveryBench.receiverCapacity(client: client, url: url, concurrency: options.perOriginConcurrency)
        }
        print(String(format: "receiver capacity (bare curl loop, %d in flight): %.0f req/s", options.perOriginConcurrency, capacity))
        receipts.reset()

        var arguments = [
            "--store", "postgres", "--database-url", options.databaseURL ?? "", "--url", url,
            "--workers", "\(options.workers)", "--events", "\(options.events)", "--jobs", "\(options.jobs)",
            "--concurrency", "\(options.perOriginConcurrency)", "--body-bytes", "\(options.bodyBytes)", "--no-log",
        ]
        if options.mode == .latency { arguments += ["--rate", "\(options.rate)", "--seconds", "\(options.seconds)"] }
        let machineBefore = MachineCPU.busySeconds()
        let ownBefore = cpuSeconds()
        let start = monotonicNanoseconds()
        fflush(nil)  // the workers share this output: what this process printed goes first
        let children = try (0..<options.workers).map { index in
            try ChildProcess.spawn(arguments + ["--worker-index", "\(index)"])
        }
        var workerCPU = 0.0
        var failures = 0
        for child in children {
            let ended = await child.wait()
            workerCPU += ended.cpuSeconds
            if ended.status != 0 { failures += 1 }
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let machine = MachineCPU.busySeconds() - machineBefore
        let own = cpuSeconds() - ownBefore
        try await server.shutdown()
        if failures > 0 { print("delivery-bench: \(failures) worker process(es) failed") }

        let (count, first, last) = receipts.snapshot
        let window = Double(max(1, last - first)) / 1e9
        let rate = Double(count) / window
        let (p50, p99) = latencies.percentiles() ?? (0, 0)
        let p95 = latencies.percentile(0.95) ?? 0
        print(String(format: "receiver got %d requests between its first and last in %.2f s (%.2f s with process start-up)",
                     count, window, elapsed))
        print(String(format: "CPU: workers %.2f s (%.1f µs per delivery), receiver %.2f s, rest of the machine (PostgreSQL mostly) %.2f s, of %.2f s busy",
                     workerCPU, workerCPU / Double(max(1, count)) * 1e6, own, max(0, machine - workerCPU - own), machine))
        print(String(format: "RESULT workers=%d deliveries_per_s=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f receiver_capacity_per_s=%.0f",
                     options.workers, rate, p50, p95, p99, capacity))
    }
}

/// Receipts at the receiver: how many, the first and the last (monotonic nanoseconds).
final class ReceiptCounter: Sendable {
    private let state = Mutex((count: 0, first: Int64(0), last: Int64(0)))

    func add(at time: Int64) {
        state.withLock { state in
            if state.count == 0 { state.first = time }
            state.count += 1
            state.last = time
        }
    }

    func reset() { state.withLock { $0 = (0, 0, 0) } }

    var snapshot: (count: Int, first: Int64, last: Int64) { state.withLock { $0 } }
}

/// CPU time of the whole machine from `/proc/stat` (every core, every process).
enum MachineCPU {
    static func busySeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return 0 }
        // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 5 else { return 0 }
        let busy = ticks.enumerated().filter { $0.offset != 3 && $0.offset != 4 }.map(\.element).reduce(0, +)
        return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A worker process of this same binary, started with `posix_spawn` (no shell) and reaped with
/// `wait4` on a thread of its own, which also gives its CPU time.
struct ChildProcess {
    let pid: pid_t

    static func spawn(_ arguments: [String]) throws -> ChildProcess {
        var path = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        guard length > 0 else { throw BenchUsageError(message: "cannot find this executable") }
        let executable = String(decoding: path[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, nil, nil, argv, environ)
        guard result == 0 else { throw BenchUsageError(message: "cannot start a worker process: error \(result)") }
        return ChildProcess(pid: pid)
    }

    /// Its exit status and CPU seconds, once it exits.
    func wait() async -> (status: Int32, cpuSeconds: Double) {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                var usage = rusage()
                _ = wait4(pid, &status, 0, &usage)
                func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
                continuation.resume(returning: ((status >> 8) & 0xff, seconds(usage.ru_utime) + seconds(usage.ru_stime)))
            }
            thread.start()
        }
    }
}
