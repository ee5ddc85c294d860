#if canImport(Glibc)
import Glibc
#endif
import CurlTransport
import Foundation
import Testing
import WorkerService

/// A small tmpfs for one test: a real file system that fills up. Mounting needs root (and a
/// kernel that allows it in this container); where it is not allowed the suite is skipped,
/// and the injected-failure test of the runner (`PipelineRunnerTests`) still covers the
/// runner's half.
struct SmallFileSystem {
    let path: String

    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        guard let probe = try? SmallFileSystem(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    init(megabytes: Int) throws {
        path = NSTemporaryDirectory() + "tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.shell("mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw POSIXError(.EPERM)
        }
    }

    /// Unmounts (retrying while the worker's last descriptors close) and removes the mount point.
    func unmount() {
        for _ in 0..<50 where Self.shell("umount", path) != 0 {
            usleep(100_000)
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func shell(_ arguments: String...) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// SPEC section 7, disk trouble, on a real full file system: submissions get 503 (nothing
/// stored), `/readyz` says why, and once space is freed the same process takes jobs again and
/// finishes them — no restart.
@Suite(.serialized, .timeLimit(.minutes(2)), .enabled(if: SmallFileSystem.canMount, "needs root to mount a tmpfs"))
struct FullDiskTests {
    @Test func aFullDiskMakesTheWorkerUnreadyUntilSpaceIsFreed() async throws {
        let disk = try SmallFileSystem(megabytes: 3)
        defer { disk.unmount() }
        // Space to give back later.
        let filler = disk.path + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 768 * 1024)))
        try await WorkerHarness.run(["CLIPPING_WORKER_DATA_DIR": disk.path + "/data"]) { h in
            #expect(try await h.call("GET", "/readyz").status == 200)
            // Fill it: long ids make each job row big. Every answer is 202 until the disk is full,
            // then 503 `store_unavailable`, never a 500.
            let padding = String(repeating: "x", count: 250)
            var accepted = [String]()
            var refused: HTTPClientResponseSummary?
            for index in 0..<5_000 {
                let response = try await h.call(
                    "POST", "/ai-clipping/jobs",
                    json: #"{"video_url": "https://127.0.0.1/v\#(index).mp4", "external_job_id": "\#(padding)\#(index)", "owner_user_id": "\#(padding)"}"#)
                if response.status == 202 {
                    accepted.append(try #require(try h.object(response)["job_id"] as? String))
                    continue
                }
                refused = HTTPClientResponseSummary(status: response.status, code: try h.error(response).code)
                break
            }
            #expect(!accepted.isEmpty)
            #expect(refused == HTTPClientResponseSummary(status: 503, code: "store_unavailable"))
            // Keep it full (a checkpoint can free a little, so an odd submission may still fit;
            // never a 500) until 200 more were refused, the last one included: readiness must
            // say so (a probe that only rewrote its row in place committed here and said ready).
            var refusals = 0
            var lastStatus = 0
            for index in 0..<5_000 where refusals < 200 || lastStatus != 503 {
                let response = try await h.call(
                    "POST", "/ai-clipping/jobs",
                    json: #"{"video_url": "https://127.0.0.1/late\#(index).mp4", "external_job_id": "\#(padding)\#(index)"}"#)
                lastStatus = response.status
                #expect(lastStatus == 503 || lastStatus == 202)
                if lastStatus == 503 { refusals += 1 } else { accepted.append(try #require(try h.object(response)["job_id"] as? String)) }
            }
            #expect(lastStatus == 503)
            let unready = try await h.call("GET", "/readyz")
            #expect(unready.status == 503)
            #expect(String(decoding: unready.body, as: UTF8.self).contains("full"))
            #expect(try await h.call("GET", "/healthz").status == 200)

            // Space comes back: ready again, a new job is taken, and every job accepted before,
            // including those whose progress or end could not be stored, ends in this process.
            try FileManager.default.removeItem(atPath: filler)
            #expect(try await h.call("GET", "/readyz").status == 200)
            let again = try await h.call(
                "POST", "/ai-clipping/jobs", json: #"{"video_url": "https://127.0.0.1/after.mp4"}"#)
            #expect(again.status == 202)
            let id = try #require(try h.object(again)["job_id"] as? String)
            let job = try await h.waitForStatus(id, ["failed", "completed"])
            #expect(["failed", "completed"].contains(job["status"] as? String))
            for earlier in accepted {
                let job = try await h.waitForStatus(earlier, ["failed", "completed"], within: .seconds(60))
                #expect(["failed", "completed"].contains(job["status"] as? String), "job \(earlier)")
            }
        }
    }
}

/// What the test compares about a refusal.
struct HTTPClientResponseSummary: Equatable {
    let status: Int
    let code: String
}
