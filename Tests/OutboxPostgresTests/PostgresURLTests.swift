import Foundation
import OutboxPostgres
import PostgresNIO
import Testing

/// `CLIPPING_WORKER_DATABASE_URL` (SPEC section 8): both schemes, the three sslmodes, and a
/// password that never shows in any text the URL or its errors produce.
@Suite struct PostgresURLTests {
    static let password = "s3cr3t-Pa55"

    @Test(arguments: [
        ("postgres://worker:s3cr3t-Pa55@db.internal:6543/clipping", "db.internal", 6543, "clipping", PostgresURL.SSLMode.prefer),
        ("postgresql://worker:s3cr3t-Pa55@db.internal/clipping?sslmode=require", "db.internal", 5432, "clipping", .require),
        ("postgres://worker:s3cr3t-Pa55@127.0.0.1:5432/clip%20db?sslmode=disable", "127.0.0.1", 5432, "clip db", .disable),
        ("POSTGRES://worker:s3cr3t-Pa55@[::1]:5433/c?sslmode=prefer", "::1", 5433, "c", .prefer),
    ])
    func parsesBothSchemesPortsDatabasesAndSSLModes(
        text: String, host: String, port: Int, database: String, mode: PostgresURL.SSLMode
    ) throws {
        let url = try PostgresURL(text)
        #expect(url.host == host && url.port == port && url.database == database && url.sslMode == mode)
        #expect(url.username == "worker" && url.password == Self.password)
        let configuration = url.clientConfiguration(maximumConnections: 7)
        #expect(configuration.host == host && configuration.port == port)
        #expect(configuration.username == "worker" && configuration.password == Self.password)
        #expect(configuration.database == database)
        #expect(configuration.options.maximumConnections == 7)
    }

    @Test func percentEncodedCredentialsAreDecoded() throws {
        let url = try PostgresURL("postgres://us%40er:p%40ss%3Aword%2F@h/d")
        #expect(url.username == "us@er" && url.password == "p@ss:word/")
        #expect(try PostgresURL("postgres://trusted@h/d").password == nil)
    }

    @Test func thePasswordNeverShowsInTextsTheURLMakes() throws {
        let url = try PostgresURL("postgresql://worker:\(Self.password)@db.internal:6543/clipping?sslmode=require")
        #expect(url.description == "postgres://worker@db.internal:6543/clipping?sslmode=require")
        var dumped = ""
        dump(url, to: &dumped)
        for text in [url.description, url.debugDescription, String(reflecting: url), "\(url)", dumped] {
            #expect(!text.contains(Self.password), "\(text)")
        }
        #expect(dumped.contains("REDACTED"))
    }

    @Test(arguments: [
        "mysql://worker:s3cr3t-Pa55@h/d",
        "postgres://worker:s3cr3t-Pa55@/d",
        "postgres://:s3cr3t-Pa55@h/d",
        "postgres://worker:s3cr3t-Pa55@h",
        "postgres://worker:s3cr3t-Pa55@h/",
        "postgres://worker:s3cr3t-Pa55@h/a/b",
        "postgres://worker:s3cr3t-Pa55@h:70000/d",
        "postgres://worker:s3cr3t-Pa55@h/d?sslmode=verify-full",
        "postgres://worker:s3cr3t-Pa55@h/d?sslmode",
        "postgres://worker:s3cr3t-Pa55@h/d?application_name=x",
        "postgres://worker@h/d?s3cr3t-Pa55=1",
        "postgres://worker:s3cr3t-Pa55@h/d#frag",
        "not a url s3cr3t-Pa55",
    ])
    func badURLsAreRefusedWithoutQuotingThem(text: String) {
        do throws(PostgresURLError) {
            _ = try PostgresURL(text)
            Issue.record("accepted \(text.replacingOccurrences(of: Self.password, with: "…"))")
        } catch {
            #expect(!error.description.contains(Self.password), "\(error.description)")
            #expect(error.description.contains("CLIPPING_WORKER_DATABASE_URL"))
            #expect(!error.description.contains("\n"))
        }
    }
}
