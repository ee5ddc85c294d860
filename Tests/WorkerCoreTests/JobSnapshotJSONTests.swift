import Foundation
import Testing
import WebhookCore
@testable import WorkerCore

/// The hand-written snapshot JSON says what `JSONEncoder` says.
struct JobSnapshotJSONTests {
    static let t0 = Timestamp(milliseconds: 1_736_937_060_123)

    static let snapshots: [JobSnapshot] = [
        JobSnapshot(timestamp: t0, jobID: "job_1", status: .queued, progressPercent: 0, currentStep: "Queued"),
        JobSnapshot(
            timestamp: t0, jobID: "job_2", externalJobID: "ext/2", ownerUserID: "user \"q\"", status: .rendering,
            progressPercent: 42, currentStep: "Rendering clip 3/5… \\ tab\t nl\n cr\r bs\u{8} ff\u{c} ctl\u{1} é 🎬",
            clipsCompleted: 2, totalClips: 5),
        JobSnapshot(
            timestamp: t0, jobID: "job_3", status: .failed, progressPercent: 60, currentStep: "Failed",
            error: "ffmpeg exited with 1: \"bad\"", errorCode: .renderFailed),
        JobSnapshot(
            timestamp: t0, jobID: "job_4", externalJobID: "e4", status: .completed, progressPercent: 100,
            currentStep: "Done", clipsCompleted: 1, totalClips: 1,
            output: JobOutput(
                jobID: "job_4", sourceVideoURL: "https://example.com/v.mp4", sourceVideoTitle: nil,
                sourceVideoDurationSeconds: 12.5, totalClips: 1,
                clips: [
                    .init(
                        clipIndex: 0, s3URL: "https://b.s3/x/0.mp4", durationMs: 1000, startTimeMs: 0, endTimeMs: 1000,
                        viralityScore: 0.5, layoutType: "full", summary: "s", tags: ["a"])
                ],
                transcriptURL: nil, planURL: nil, processingTimeSeconds: 1.25, createdAt: "2025-01-15T10:31:00.000Z",
                engine: "simulated")),
    ]

    @Test(arguments: snapshots)
    func sameObjectAsTheEncoder(snapshot: JobSnapshot) throws {
        let mine = try snapshot.jsonBytes()
        #expect(try JSONDecoder().decode(JobSnapshot.self, from: Data(mine)) == snapshot)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let theirs = try encoder.encode(snapshot)
        let mineObject = try #require(try JSONSerialization.jsonObject(with: Data(mine)) as? NSDictionary)
        let theirObject = try #require(try JSONSerialization.jsonObject(with: theirs) as? NSDictionary)
        #expect(mineObject == theirObject)
        // Slashes stay plain, as with `.withoutEscapingSlashes`.
        #expect(!String(decoding: mine, as: UTF8.self).contains(#"\/"#))
    }
}
