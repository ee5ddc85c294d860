import Testing

@testable import FFmpegEngine

/// What a transcribe command, an embedded subtitle stream or a sidecar file may print. The crash
/// rows were found by the `transcript` fuzz target (scripts/fuzz.sh): an hour field of many digits,
/// or `nan`, went through `Double` and trapped converting to `Int`, taking the worker down.
struct TranscriptParserTests {
    @Test(arguments: [
        ("00:01:02,500", 62_500), ("01:02.500", 62_500), ("1:02:03", 3_723_000), ("00:01:02.5", 62_500),
        ("00:01:02.1234", 62_123), (" 00:00:01.000 ", 1_000), ("75:00.000", 4_500_000),
        ("00:60:00.000", nil), ("00:00:60.000", nil), ("nan:00", nil), ("inf:00:00", nil), ("-1:00", nil),
        ("1e3:00", nil), ("+1:00", nil), ("0100000000000000000000000000:00:00.000", nil),
        (String(repeating: "9", count: 400) + ":00:00", nil), ("00:00", 0), ("00:00.", nil), (":00", nil), ("00:00:00:00", nil),
    ] as [(String, Int?)])
    func timestamps(text: String, milliseconds: Int?) {
        #expect(TranscriptParser.timestamp(text) == milliseconds)
    }

    @Test(arguments: [
        // The fuzz target's crashes, as found (an hour past Int.max; `1e3000` and `nan` read as numbers).
        "WEBVTT\n\n00:01.000 --> 00:02.<b>\u{0}\u{0}\u{0}\u{0}000 blign:start\n<v Roger>Hi\n\n01000000000000000000000000:00:00.000 --> 01:00:01.000\nla.e\n",
        "WE\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}o:01.000 --> 0WE\u{FFFD}VTT\n\n00:1e3000 --> nan00:02.000 align:star0:\u{7}tlign:start\n<v R\n0\"start_ms\"1:00:00.000 --> 01\u{FFFD}\u{FFFD}\u{FFFD}",
        "1\nnan:00:00,000 --> 00:00:01,000\nx\n",
        "1\n-5:00 --> 00:01\nnegative\n",
        #"{"segments": [{"start_ms": -500, "end_ms": 100, "text": "before the start"}]}"#,
    ])
    func hostileTranscriptsGiveNoBadSegments(text: String) {
        for segment in TranscriptParser.parse(text) ?? [] {
            #expect(segment.startMs >= 0 && segment.endMs > segment.startMs, "\(segment)")
        }
    }
}
