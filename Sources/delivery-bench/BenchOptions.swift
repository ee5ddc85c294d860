import Foundation

/// Command-line options of `delivery-bench` (parsed by hand: a benchmark should not depend on
/// more than it measures).
struct BenchOptions {
    enum Mode { case throughput, latency, deadReceiver }

    var mode = Mode.throughput
    var events = 50_000
    var jobs = 256
    var rate = 1_000
    var seconds = 10
    var perOriginConcurrency = 64
    var store = "sqlite"
    var durability = "full"
    var deliveryLog = true
    /// Off with --keep-parked-queues: parked jobs keep their queues (to compare the memory).
    var evictParkedJobs = true
    /// An external receiver (`--url`) instead of the built-in one; loopback only.
    var url: String?
    /// `--store postgres`: the database (else `CLIPPING_WORKER_DATABASE_URL`).
    var databaseURL: String?
    /// `--workers N`: worker processes (postgres only), each with its own store client and lease owner.
    var workers = 1
    /// Set in a worker process started by a multi-worker run: which share of the jobs it publishes.
    var workerIndex: Int?
    /// `--tls`: the built-in receiver speaks HTTPS (a CA made for the run).
    var tls = false
    /// `--ca-file PATH`: the CA bundle for an external `https://` receiver.
    var caFile: String?
    /// `--body-bytes N`: pad each event body to about N bytes (0: the snapshot as is; 1024 with postgres).
    var bodyBytes = 0

    static let usage = """
        usage: delivery-bench [--events N] [--jobs M] [--concurrency C] [--store sqlite|memory|postgres]
                              [--durability full|normal] [--no-log] [--database-url URL] [--workers N]
               delivery-bench --rate R --seconds S [--jobs M] ...
               delivery-bench --dead-receiver [--events N] [--jobs M]
               delivery-bench --url http://127.0.0.1:PORT/PATH [other options but --dead-receiver]

          default          maximum throughput: N progress events for M jobs (default 50000 for 256)
          --rate/--seconds latency of enqueue → 2xx under an offered load of R events/s
          --dead-receiver  memory with N events pending for a receiver that refuses connections
                   (--keep-parked-queues: the parked jobs keep their queues in memory, as
                   before eviction, for comparison)
          --url URL        deliver to a receiver already running at URL (e.g. nginx answering 204)
                           instead of the built-in one, and measure the bare curl loop against it;
                           only http(s)://127.x.x.x or localhost is accepted. Latency is then
                           measured at the sender (enqueue → response) instead of at the receiver.
          --store postgres the shared store (SPEC section 8) at --database-url or
                           $CLIPPING_WORKER_DATABASE_URL (migrated first; jobs are named per run);
                           --workers N starts N worker processes, each with its own client and lease
                           owner, job j published by worker j % N; this process runs the receiver and
                           reports the total (scripts/bench.sh starts a throwaway loopback cluster
                           when no URL is given); defaults there: 1 KiB bodies, 10 events per job
          --body-bytes N   pad each event body to about N bytes
          --tls            the built-in receiver speaks HTTPS (certificates made for the run with
                           openssl); prints the TLS handshakes per 10,000 deliveries
          --ca-file PATH   CA bundle for an external https:// receiver (--url)
        Every event is stored (SQLite, synchronous=FULL unless --durability normal), signed,
        sent over loopback HTTP with libcurl and logged to deliveries.jsonl (unless --no-log).
        """

    static func parse(_ arguments: [String]) throws(BenchUsageError) -> BenchOptions {
        var options = BenchOptions()
        var iterator = arguments.makeIterator()
        func int(_ name: String) throws(BenchUsageError) -> Int {
            guard let text = iterator.next(), let value = Int(text), value > 0 else {
                throw BenchUsageError(message: "\(name) needs a positive integer")
            }
            return value
        }
        var sawRate = false
        while let argument = iterator.next() {
            switch argument {
            case "--events": options.events = try int(argument)
            case "--jobs": options.jobs = try int(argument)
            case "--rate":
                options.rate = try int(argument)
                sawRate = true
            case "--seconds": options.seconds = try int(argument)
            case "--concurrency": options.perOriginConcurrency = try int(argument)
            case "--dead-receiver": options.mode = .deadReceiver
            case "--no-log": options.deliveryLog = false
            case "--keep-parked-queues": options.evictParkedJobs = false
            case "--store":
                guard let value = iterator.next(), ["sqlite", "memory", "postgres"].contains(value) else {
                    throw BenchUsageError(message: "--store takes sqlite, memory or postgres")
                }
                options.store = value
            case "--durability":
                guard let value = iterator.next(), ["full", "normal"].contains(value) else {
                    throw BenchUsageError(message: "--durability takes full or normal")
                }
                options.durability = value
            case "--url":
                guard let value = iterator.next() else { throw BenchUsageError(message: "--url needs a URL") }
                guard isLoopbackURL(value) else {
                    throw BenchUsageError(message: "--url must be http(s)://127.x.x.x or localhost (loopback only), got \(value)")
                }
                options.url = value
            case "--database-url":
                guard let value = iterator.next() else { throw BenchUsageError(message: "--database-url needs a URL") }
                options.databaseURL = value
            case "--workers": options.workers = try int(argument)
            case "--tls": options.tls = true
            case "--ca-file":
                guard let value = iterator.next() else { throw BenchUsageError(message: "--ca-file needs a path") }
                options.caFile = value
            case "--worker-index":
                guard let text = iterator.next(), let value = Int(text), value >= 0 else {
                    throw BenchUsageError(message: "--worker-index needs an integer")
                }
                options.workerIndex = value
            case "--body-bytes":
                guard let text = iterator.next(), let value = Int(text), value >= 0 else {
                    throw BenchUsageError(message: "--body-bytes needs a number of bytes")
                }
                options.bodyBytes = value
            case "-h", "--help": throw BenchUsageError(message: "")
            default: throw BenchUsageError(message: "unknown option \(argument)")
            }
        }
        if sawRate && options.mode == .throughput { options.mode = .latency }
        if options.mode == .deadReceiver && options.url != nil {
            throw BenchUsageError(message: "--dead-receiver and --url exclude each other")
        }
        if options.mode == .deadReceiver && !arguments.contains("--events") { options.events = 100_000 }
        if options.workers > 1 && options.store != "postgres" {
            throw BenchUsageError(message: "--workers needs --store postgres (SQLite has one owner per data directory)")
        }
        if options.store == "postgres" {
            if !arguments.contains("--body-bytes") { options.bodyBytes = 1024 }
            if !arguments.contains("--jobs") { options.jobs = max(1, options.events / 10) }
        }
        if options.store == "postgres" && options.databaseURL == nil {
            options.databaseURL = ProcessInfo.processInfo.environment["CLIPPING_WORKER_DATABASE_URL"]
            if options.databaseURL == nil {
                throw BenchUsageError(message: "--store postgres needs --database-url or CLIPPING_WORKER_DATABASE_URL")
            }
        }
        return options
    }

    /// True for an `http` or `https` URL whose host is `localhost` or an IPv4 address in
    /// 127.0.0.0/8, without user info: the only traffic this benchmark may send.
    static func isLoopbackURL(_ text: String) -> Bool {
        guard !text.contains(where: { $0 == "\\" || $0 == "@" || $0.isWhitespace }),
            let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            components.user == nil, components.password == nil,
            let host = components.host?.lowercased()
        else { return false }
        if host == "localhost" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { (1...3).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } && UInt8($0) != nil }
    }
}

struct BenchUsageError: Error {
    var message: String
}
