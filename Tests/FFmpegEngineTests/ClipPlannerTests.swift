import Testing
import WorkerCore

@testable import FFmpegEngine

struct ClipPlannerTests {
    func spec(maxClips: Int = 5, min: Int = 10, max: Int = 20, ranges: [ClipDurationRange] = []) -> JobSpec {
        JobSpec(
            videoURL: "https://e.com/v.mp4", callbackURL: nil, externalJobID: nil, ownerUserID: nil, maxClips: maxClips,
            minClipDurationSeconds: min, maxClipDurationSeconds: max, durationRanges: ranges, targetPlatform: .tiktok,
            includeCaptions: true, captionStyleJSON: nil)
    }

    let speech: [Transcript.Segment] = stride(from: 0, to: 120_000, by: 6000).map {
        .init(startMs: $0 + 500, endMs: $0 + 5000, text: $0 % 24_000 == 0 ? "Here is the secret and the best lesson" : "plain words about nothing")
    }

    @Test func windowsRespectBoundsAndNeverOverlap() {
        let plan = ClipPlanner.plan(spec: spec(), durationMs: 120_000, speech: speech, cuts: [30_000, 61_000, 90_000])
        #expect(plan.count == 5)
        #expect(plan.map(\.clipIndex) == [1, 2, 3, 4, 5])
        for (index, clip) in plan.enumerated() {
            let length = clip.endTimeMs - clip.startTimeMs
            #expect(length >= 10_000 && length <= 20_000)
            #expect(clip.endTimeMs <= 120_000)
            #expect((0...1).contains(clip.viralityScore))
            #expect(!clip.reasons.isEmpty)
            if index > 0 { #expect(clip.startTimeMs >= plan[index - 1].endTimeMs) }
        }
        // Hook words raise the score: the best clip holds one.
        let best = plan.max { $0.viralityScore < $1.viralityScore }!
        #expect(best.reasons.contains { $0.hasPrefix("hook words") })
    }

    @Test func durationRangesAreHonoured() {
        let ranges = [ClipDurationRange(lower: 5, upper: 8), ClipDurationRange(lower: 30, upper: 40)]
        let plan = ClipPlanner.plan(spec: spec(ranges: ranges), durationMs: 120_000, speech: speech, cuts: [])
        #expect(!plan.isEmpty)
        for clip in plan {
            let seconds = Double(clip.endTimeMs - clip.startTimeMs) / 1000
            #expect((5...8).contains(seconds) || (30...40).contains(seconds), "\(seconds) s")
        }
    }

    @Test func shortVideoIsOneWholeClip() {
        let plan = ClipPlanner.plan(spec: spec(min: 15, max: 60), durationMs: 9_000, speech: [], cuts: [])
        #expect(plan.count == 1)
        #expect(plan[0].startTimeMs == 0 && plan[0].endTimeMs == 9_000)
        #expect(plan[0].reasons.contains { $0.contains("shorter than the shortest allowed clip") })
    }

    @Test func withoutTextNothingIsInvented() {
        let timesOnly = speech.map { Transcript.Segment(startMs: $0.startMs, endMs: $0.endMs, text: nil) }
        let plan = ClipPlanner.plan(spec: spec(maxClips: 2), durationMs: 60_000, speech: timesOnly, cuts: [])
        #expect(plan.allSatisfy { $0.tags.isEmpty && $0.summary.hasPrefix("No transcript text") })
        #expect(plan.allSatisfy { $0.reasons.contains { $0.hasPrefix("no transcript text") } })
    }
}
