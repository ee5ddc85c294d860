import Foundation
import Testing
import WebhookCore
import WorkerCore

struct ValueTypeTests {
    @Test func eventIDRoundTripsAndSortsByTime() {
        let early = EventID.generate(at: Timestamp(milliseconds: 1_000))
        let late = EventID.generate(at: Timestamp(milliseconds: 2_000))
        #expect(early < late)
        let text = early.description
        #expect(text.hasPrefix("evt_"))
        #expect(text.count == 30)
        #expect(EventID(text) == early)
        #expect(EventID(text.lowercased().replacingOccurrences(of: "evt_", with: "evt_")) == early)
        #expect(EventID(EventID(high: .max, low: .max).description) == EventID(high: .max, low: .max))
        #expect(EventID("evt_short") == nil)
        #expect(EventID("msg_" + text.dropFirst(4)) == nil)
        #expect(EventID("evt_" + String(repeating: "U", count: 26)) == nil)  // U is not Crockford
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"), (1_736_937_060_000, "2025-01-15T10:31:00.000Z"),
        (1_736_937_060_007, "2025-01-15T10:31:00.007Z"), (951_782_400_000, "2000-02-29T00:00:00.000Z"),
    ])
    func timestampFormatsAndParsesISO8601(milliseconds: Int64, text: String) {
        #expect(Timestamp(milliseconds: milliseconds).iso8601 == text)
        #expect(Timestamp(iso8601: text) == Timestamp(milliseconds: milliseconds))
    }

    @Test func draftBodyPutsEnvelopeFirstAndKeepsTheSnapshot() throws {
        let snapshot = JobSnapshot(
            timestamp: Timestamp(milliseconds: 1_736_937_060_000), jobID: "job_1", externalJobID: nil,
            ownerUserID: "u1", status: .rendering, progressPercent: 140, currentStep: "Rendering clip 3/5...",
            clipsCompleted: 2, totalClips: 5)
        let draft = try EventDraft(kind: .progress, callbackURL: "https://example.com/h", snapshot: snapshot)
        let id = EventID.generate(at: Timestamp(milliseconds: 1))
        let body = draft.body(id: id, sequence: 7)
        let text = String(decoding: body, as: UTF8.self)
        #expect(text.hasPrefix("{\"event\":\"job.progress\",\"event_id\":\"\(id)\",\"sequence\":7,"))
        struct Envelope: Decodable {
            let event: String
            let event_id: String
            let sequence: Int
            let job_id: String
            let external_job_id: String?
            let owner_user_id: String?
            let progress_percent: Int
            let clips_completed: Int?
            let error: String?
            let timestamp: String
        }
        let decoded = try JSONDecoder().decode(Envelope.self, from: Data(body))
        #expect(decoded.event_id == id.description)
        #expect(decoded.job_id == "job_1")
        #expect(decoded.progress_percent == 100)  // clamped to 0–100
        #expect(decoded.clips_completed == 2)
        #expect(decoded.error == nil)
        #expect(decoded.timestamp == "2025-01-15T10:31:00.000Z")
        // external_job_id is always present, null when not given.
        #expect(text.contains("\"external_job_id\":null"))
        #expect(!text.contains("\"output\""))
        // Slashes stay plain, as receivers expect to read them.
        #expect(text.contains("Rendering clip 3/5..."))
        // Round trip through the Codable snapshot.
        let back = try JSONDecoder().decode(JobSnapshot.self, from: Data(body))
        #expect(back.currentStep == "Rendering clip 3/5...")
    }

    @Test func draftWithEmptySnapshotIsStillAnObject() throws {
        let draft = EventDraft(kind: .started, jobID: "j", callbackURL: "https://e/x", encodedSnapshot: Array("{}".utf8))
        let body = draft.body(id: EventID(high: 1, low: 1), sequence: 1)
        #expect(try JSONSerialization.jsonObject(with: Data(body)) is [String: Any])
    }

    @Test(arguments: [
        ("https://h/p?token=abc&x=1#frag", "https://h/p?token=REDACTED&x=REDACTED"),
        ("https://user:pw@h:8443/p", "https://REDACTED@h:8443/p"),
        ("http://h/path", "http://h/path"),
        ("http://h/p?flag", "http://h/p?flag"),
        // Secrets in the path (SPEC section 7): token-like segments, 20+ characters of letters,
        // digits, - or _ with a digit among them.
        ("https://hooks.slack.com/services/T0001/B0002/a1b2c3d4e5f6g7h8i9j0k1l2",
         "https://hooks.slack.com/services/T0001/B0002/REDACTED"),
        ("https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_jkl0123456789xyzXYZ",
         "https://discord.com/api/webhooks/123456789012345678/REDACTED"),
        ("https://h/hooks/0123456789abcdefghij/x?sig=1", "https://h/hooks/REDACTED/x?sig=REDACTED"),
        ("https://u:p@h/a/b1c2d3e4f5g6h7i8j9k0l/", "https://REDACTED@h/a/REDACTED/"),
        ("https://h/p?0123456789abcdefghijk", "https://h/p?REDACTED"),
        // Not tokens: short, no digit, or other characters.
        ("https://h/a/0123456789abcdefghi", "https://h/a/0123456789abcdefghi"),
        ("https://h/a/abcdefghijklmnopqrstuvwxyz", "https://h/a/abcdefghijklmnopqrstuvwxyz"),
        ("https://h/a/2025-01-15.report.2025-01-15", "https://h/a/2025-01-15.report.2025-01-15"),
    ])
    func redactsURLs(input: String, expected: String) {
        #expect(URLRedaction.redact(input) == expected)
    }
}

struct NetworkPolicyTests {
    let policy = NetworkPolicy()

    @Test(arguments: [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a00:1",
    ])
    func refusesNonPublicAddresses(address: String) throws {
        let ip = try #require(IPAddress(address))
        #expect(policy.refusal(for: ip) != nil)
    }

    @Test(arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])
    func allowsPublicAddresses(address: String) throws {
        let ip = try #require(IPAddress(address))
        #expect(policy.refusal(for: ip) == nil)
    }

    @Test func allowedNetworksOpenPrivateRanges() throws {
        let allowed = try NetworkPolicy.parseAllowedNetworks("127.0.0.0/8, 10.0.0.0/8").get()
        let open = NetworkPolicy(allowedNetworks: allowed)
        #expect(open.refusal(for: IPAddress("127.0.0.1")!) == nil)
        #expect(open.refusal(for: IPAddress("10.200.0.1")!) == nil)
        #expect(open.refusal(for: IPAddress("192.168.0.1")!) != nil)
        #expect(open.refusal(forURL: "http://localhost:8080/x") == nil)
        guard case .failure(let bad) = NetworkPolicy.parseAllowedNetworks("10.0.0.0/8,300.1.1.1/8") else {
            Issue.record("expected a parse failure")
            return
        }
        #expect(bad.text == "300.1.1.1/8")
        #expect(CIDRBlock("10.0.0.0/33") == nil)
        #expect(CIDRBlock("fd00::/8")?.contains(IPAddress("fdff::1")!) == true)
    }

    @Test(arguments: [
        ("https://example.com/hook", nil), ("http://example.com:8080/h?x=1", nil),
        ("ftp://example.com/x", "must be an http(s) URL"), ("example.com/x", "must be an http(s) URL"),
        ("https://user:pw@example.com/", "must not carry user info"), ("http:///nohost", "must have a host"),
        ("http://127.0.0.1/x", "must not point to 127.0.0.1, a loopback address"),
        ("http://[::1]:80/x", "must not point to ::1, a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "must not point to 169.254.169.254, a link-local address"),
        ("http://localhost/x", "must not point to localhost"),
    ] as [(String, String?)])
    func checksURLText(url: String, refusal: String?) {
        #expect(policy.refusal(forURL: url) == refusal)
    }

    @Test func originOfURL() {
        #expect(Origin(url: "https://Example.com/a")?.description == "https://example.com:443")
        #expect(Origin(url: "http://h:81/a") == Origin(url: "http://H:81/b?c"))
        #expect(Origin(url: "not a url") == nil)
    }
}

extension ValueTypeTests {
    /// Stored data never crashes the process: a corrupt row's time far outside the calendar is
    /// shown clamped (a `GET` of such a job trapped in `Timestamp` before).
    @Test(arguments: [Int64.max, Int64.min, Int64.max - 999, -62_135_596_800_001, 253_402_300_800_000])
    func outOfRangeTimestampsPrintClamped(milliseconds: Int64) {
        let text = Timestamp(milliseconds: milliseconds).iso8601
        #expect(text.count == 24)
        #expect(text == "9999-12-31T23:59:59.999Z" || text == "0001-01-01T00:00:00.000Z")
        _ = Timestamp(milliseconds: milliseconds).unixSeconds
    }
}
