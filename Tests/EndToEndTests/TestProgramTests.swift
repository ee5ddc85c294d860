import Foundation
import Testing
import WebhookTestSupport

/// The tests' way to run a program (`TestProgram`): input, output, status, and a time limit
/// that kills a program that would hold the test forever.
@Suite(.timeLimit(.minutes(1)))
struct TestProgramTests {
    @Test func feedsInputAndCollectsOutputAndStatus() async throws {
        let result = try await TestProgram.run("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], input: "hello\n")
        #expect(result.status == 3)
        #expect(result.output == "hello\n")
        #expect(result.error == "oops\n")
    }

    @Test func aProgramPastItsLimitIsKilled() async throws {
        let began = ContinuousClock.now
        await #expect(throws: TestProgram.TimedOut.self) {
            _ = try await TestProgram.run("/bin/sleep", ["30"], timeLimit: .milliseconds(300))
        }
        // Far below the 30 s of the sleep: the limit ended it, on a loaded machine too.
        #expect(ContinuousClock.now - began < .seconds(20))
    }

    /// A process left behind holding the output does not hold the run: output goes to a file,
    /// and the run ends when the program exits.
    @Test func aProcessLeftBehindDoesNotHoldTheRun() async throws {
        let result = try await TestProgram.run("/bin/sh", ["-c", "sleep 300 & echo $!"])
        if let pid = pid_t(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGKILL) }
        #expect(result.status == 0)
    }
}
