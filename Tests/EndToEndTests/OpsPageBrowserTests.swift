import Foundation
import Testing
import WebhookTestSupport

/// The operations page in a real browser (issue #12): runs `Tests/Browser/ops_page_test.py`,
/// which starts the built `clipping-worker serve` with a real receiver and drives Debian's
/// headless chromium through chromium-driver (selenium). Screenshots go to
/// `.build/ops-screenshots` (or `CLIPPING_WORKER_TEST_SCREENSHOTS`).
///
/// Without chromium, chromium-driver or selenium the test is skipped, unless
/// `CLIPPING_WORKER_TEST_REQUIRE_BROWSER` is set (`scripts/test.sh` installs them and sets it).
@Suite(.timeLimit(.minutes(3)))
struct OpsPageBrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var browserAvailable: Bool {
        let manager = FileManager.default
        guard manager.isExecutableFile(atPath: "/usr/bin/chromium"), manager.isExecutableFile(atPath: "/usr/bin/chromedriver")
        else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import selenium"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    static var required: Bool { ProcessInfo.processInfo.environment["CLIPPING_WORKER_TEST_REQUIRE_BROWSER"] != nil }

    @Test(.enabled(if: required || browserAvailable, "chromium, chromium-driver or selenium missing"))
    func opsPageWorksInHeadlessChromium() async throws {
        let screenshots = ProcessInfo.processInfo.environment["CLIPPING_WORKER_TEST_SCREENSHOTS"]
            ?? Self.root.appendingPathComponent(".build/ops-screenshots").path
        // Through TestProgram: the run takes tens of seconds, and waiting for it must not hold a
        // thread of the cooperative pool (nor wait on a pipe a browser process left behind could hold).
        let result = try await TestProgram.run(
            "/usr/bin/env",
            ["python3", Self.root.appendingPathComponent("Tests/Browser/ops_page_test.py").path, "--binary", WorkerProcess.binary,
             "--screenshots", screenshots],
            mergeOutput: true, timeLimit: .seconds(170))
        let text = result.output
        #expect(result.status == 0, "\(text)")
        #expect(text.contains("checks passed"), "\(text)")
        for name in ["ops-failed-events.png", "ops-bulk-dry-run.png", "ops-sign-in.png", "ops-signed-in.png"] {
            #expect(FileManager.default.fileExists(atPath: screenshots + "/" + name), "\(name)")
        }
    }
}
