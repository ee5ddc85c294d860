import Foundation
import Synchronization
import Testing
import WorkerCore
import WorkerPipeline

@testable import FFmpegEngine

/// The pure parts of issue #13: captions from words, sentences, tags, word-time correction,
/// framing decisions; and the subprocess time limit and pipe.
struct WordsAndFramingTests {
    static func words(_ text: String, from start: Int = 0, step: Int = 300) -> [Transcript.Word] {
        text.split(separator: " ").enumerated().map { index, word in
            Transcript.Word(startMs: start + index * step, endMs: start + index * step + step - 50, word: String(word))
        }
    }

    @Test func captionCuesStartWithTheirFirstWordAndNeverSplitOne() {
        let text = "Every event is stored before its first attempt, so nothing is ever lost and receivers "
            + "deduplicate on the webhook identifier. Why does ordering matter?"
        let spoken = Self.words(text, from: 10_000)
        let track = CaptionTrack(words: spoken, startMs: 9_000, endMs: 40_000)
        #expect(!track.cues.isEmpty)
        var shown = [String]()
        for cue in track.cues {
            #expect((1...2).contains(cue.lines.count))
            #expect(cue.lines.allSatisfy { $0.count <= 32 }, "\(cue.lines)")
            shown += cue.lines.flatMap { $0.split(separator: " ").map(String.init) }
            // The cue appears when its first word is said (times are relative to the clip).
            let first = spoken.first { $0.word == cue.lines[0].split(separator: " ")[0] }
            #expect(cue.startMs == (first?.startMs ?? 0) - 9_000)
        }
        #expect(shown == spoken.map(\.word), "every word once, whole and in order")
        // A sentence end closes a cue: the question starts one of its own.
        #expect(track.cues.contains { $0.lines[0].hasPrefix("Why") })
        // Every word is on screen while it is said.
        for word in spoken {
            let at = word.startMs - 9_000 + 100
            #expect(track.cues.contains { $0.startMs <= at && at < $0.endMs }, "\(word.word)")
        }
        let ass = track.ass(width: 1080, height: 1920)
        #expect(ass.contains("PlayResX: 1080") && ass.contains("WrapStyle: 2"))
        #expect(ass.contains("Dialogue: 0,0:00:01.00,"))
    }

    @Test func sidecarCuesGetWordTimesInsideThem() {
        let words = SpokenWords.words([.init(startMs: 1000, endMs: 3000, text: "Hello there world.")])
        #expect(words.map(\.word) == ["Hello", "there", "world."])
        #expect(words.first?.startMs == 1000 && words.last?.endMs == 3000)
        #expect(zip(words, words.dropFirst()).allSatisfy { $0.endMs <= $1.startMs })
        let sentences = SpokenWords.sentences(Self.words("One two. Three four? Five"))
        #expect(sentences.map(\.text) == ["One two.", "Three four?", "Five"])
        #expect(sentences[1].isQuestion)
    }

    @Test func tagsAreTheClipsDistinctiveWordsWithReasons() {
        let video = Self.words(
            "Webhooks are signed. Webhooks are retried with backoff. Receivers deduplicate webhooks. "
                + "Terminal events are awaited by the job. Progress events are throttled per job.")
        let sentences = SpokenWords.sentences(video)
        let scorer = TagScorer(sentences: sentences)
        let clip = Array(video[video.count - 14..<video.count])  // the last two sentences
        let tags = scorer.tags(for: clip)
        #expect(!tags.map(\.word).contains("are") && !tags.map(\.word).contains("by"))
        // "events" and "job" are said twice in the clip and in no other sentence: they outrank
        // words said once ("events" first: the longer word wins the tie).
        #expect(tags.prefix(2).map(\.word) == ["events", "job"])
        #expect(tags.prefix(2).allSatisfy { $0.inClip == 2 && $0.sentencesWithIt == 2 })
        // The planner says why.
        let spec = JobSpec(
            videoURL: "https://e.com/v.mp4", callbackURL: nil, externalJobID: nil, ownerUserID: nil, maxClips: 1,
            minClipDurationSeconds: 1, maxClipDurationSeconds: 60, durationRanges: [], targetPlatform: .tiktok,
            includeCaptions: true, captionStyleJSON: nil)
        let segments = [Transcript.Segment(startMs: 0, endMs: video.last?.endMs ?? 0, text: nil, words: video)]
        let plan = ClipPlanner.plan(spec: spec, durationMs: 20_000, speech: segments, cuts: [])
        #expect(plan.first?.reasons.contains { $0.hasPrefix("tag \"") && $0.contains("tf-idf") } == true)
    }

    @Test func clipsStartAndEndOnSentences() {
        // Twelve sentences of 8 words, 2.4 s each, a 0.8 s pause between.
        var all = [Transcript.Word]()
        for index in 0..<12 {
            all += Self.words("one two three four five six seven eight\(index % 3 == 0 ? "?" : ".")", from: index * 3200)
        }
        let segments = [Transcript.Segment(startMs: 0, endMs: 38_400, text: "x", words: all)]
        let spec = JobSpec(
            videoURL: "https://e.com/v.mp4", callbackURL: nil, externalJobID: nil, ownerUserID: nil, maxClips: 3,
            minClipDurationSeconds: 5, maxClipDurationSeconds: 10, durationRanges: [], targetPlatform: .tiktok,
            includeCaptions: true, captionStyleJSON: nil)
        let plan = ClipPlanner.plan(spec: spec, durationMs: 40_000, speech: segments, cuts: [])
        #expect(plan.count == 3)
        let starts = Set(SpokenWords.sentences(all).map { max(0, $0.startMs - ClipPlanner.leadMs) })
        let ends = Set(SpokenWords.sentences(all).map { $0.endMs + ClipPlanner.leadMs })
        for clip in plan {
            #expect(starts.contains(clip.startTimeMs) && ends.contains(clip.endTimeMs), "\(clip.startTimeMs)–\(clip.endTimeMs)")
            #expect(clip.reasons.contains("starts and ends on sentence boundaries"))
        }
        // Questions open the best clips.
        #expect(plan.contains { $0.reasons.contains { $0.hasPrefix("opens with a question") } })
    }

    @Test func aWordCannotHoldASilence() {
        let segment = Transcript.Segment(
            startMs: 24_270, endMs: 26_290, text: "terminal event",
            words: [.init(startMs: 24_270, endMs: 25_750, word: "terminal"), .init(startMs: 25_750, endMs: 26_290, word: "event")])
        let refined = WordTiming.refine([segment], silences: [.init(startMs: 24_312, endMs: 25_356)])
        #expect(refined[0].words?.first?.startMs == 25_356)
        #expect(refined[0].startMs == 25_356)
        #expect(refined[0].words?.last == segment.words?.last)
        let tail = WordTiming.refine([segment], silences: [.init(startMs: 26_000, endMs: 27_000)])
        #expect(tail[0].words?.last?.endMs == 26_000 && tail[0].endMs == 26_000)
    }

    static func clip(_ start: Int, _ end: Int) -> PlannedClip {
        PlannedClip(
            clipIndex: 1, startTimeMs: start, endTimeMs: end, viralityScore: 0.5, layoutType: "unknown", summary: "",
            tags: [], reasons: [])
    }

    @Test func framingFollowsTheMedianFaceOncePerSceneAndCentresWithoutOne() {
        let face = { (x: Double) in FaceSample.Box(x: x - 60, y: 100, width: 120, height: 120) }
        // Scene 1 (0–5 s): a face near x=300 with one outlier; scene 2 (5–10 s): none.
        var samples = [FaceSample]()
        for index in 0..<20 {
            let time = index * 500
            let faces = time < 5000 ? [face(index == 3 ? 1100 : 300 + Double(index % 3) * 4)] : []
            samples.append(FaceSample(timeMs: time, faces: faces, motion: 3, edges: 0.05))
        }
        let decision = FaceFraming.decide(
            clip: Self.clip(0, 10_000), samples: samples, cuts: [5000], sourceWidth: 1280, sourceHeight: 720)
        #expect(decision.crop.width == 404 && decision.crop.height == 720)
        #expect(decision.crop.steps.count == 2)
        let first = decision.crop.steps[0].x
        #expect(abs(first + 202 - 304) <= 4, "left edge \(first)")
        #expect(decision.crop.steps[1] == .init(fromMs: 5000, x: 438))
        #expect(decision.crop.filter == "crop=w=404:h=720:x=if(lt(t\\,5.000)\\,\(first)\\,438):y=0")
        // Half the samples show a 9 %-wide face: not enough for talking_head.
        #expect(decision.layout == "unknown")
        // A face at the edge is clamped to the frame.
        let edge = FaceFraming.decide(
            clip: Self.clip(0, 2000), samples: [FaceSample(timeMs: 0, faces: [face(20)], motion: nil, edges: 0)], cuts: [],
            sourceWidth: 1280, sourceHeight: 720)
        #expect(edge.crop.steps == [.init(fromMs: 0, x: 0)])
        #expect(edge.layout == "talking_head")
        // No samples at all: the centre.
        let none = FaceFraming.decide(clip: Self.clip(0, 2000), samples: [], cuts: [], sourceWidth: 1920, sourceHeight: 1080)
        #expect(none.crop == CropPlan.centred(sourceWidth: 1920, sourceHeight: 1080))
        #expect(none.crop.steps == [.init(fromMs: 0, x: 656)])
    }

    @Test func aStillPictureWithEdgesAndNoFaceIsAScreenShare() {
        let still = (0..<8).map { FaceSample(timeMs: $0 * 500, faces: [], motion: $0 == 0 ? nil : 0.1, edges: 0.03) }
        #expect(FaceFraming.decide(clip: Self.clip(0, 4000), samples: still, cuts: [], sourceWidth: 1280, sourceHeight: 720).layout
            == "screen_share")
        let moving = still.map { FaceSample(timeMs: $0.timeMs, faces: [], motion: 8, edges: 0.03) }
        #expect(FaceFraming.decide(clip: Self.clip(0, 4000), samples: moving, cuts: [], sourceWidth: 1280, sourceHeight: 720).layout
            == "unknown")
        let blank = still.map { FaceSample(timeMs: $0.timeMs, faces: [], motion: 0, edges: 0.001) }
        #expect(FaceFraming.decide(clip: Self.clip(0, 4000), samples: blank, cuts: [], sourceWidth: 1280, sourceHeight: 720).layout
            == "unknown")
    }

    @Test(.timeLimit(.minutes(1))) func aHelperPastItsTimeLimitIsStopped() async throws {
        let began = ContinuousClock.now
        do {
            _ = try await Subprocess.run("/bin/sleep", ["30"], timeLimit: .milliseconds(300))
            Issue.record("no time limit")
        } catch let error as PipelineError {
            #expect(error.code == .timeout)
        }
        // Far below the 30 s the command would take: a loaded machine may be slow to reap it.
        #expect(ContinuousClock.now - began < .seconds(20))
    }

    @Test(.timeLimit(.minutes(1))) func aPipelineStreamsLinesFromProducerToConsumer() async throws {
        let lines = Mutex<[String]>([])
        let result = try await Subprocess.pipeline(
            .init(executable: "/usr/bin/seq", arguments: ["1", "200000"]),
            into: .init(executable: "/usr/bin/tail", arguments: ["-n", "2"]), timeLimit: .seconds(50),
            onLine: { line in lines.withLock { $0.append(String(line)) } })
        #expect(result.producer.status == 0 && result.consumer.status == 0)
        #expect(lines.withLock { $0 } == ["199999", "200000"])
    }
}
