import Foundation

/// A private certificate authority made at test time with the `openssl` command (no key is
/// committed), and the certificates the TLS tests need, as PEM files in a temporary directory.
///
/// ```swift
/// let certificates = try TestCertificates.make()
/// let server = try await ScriptedHTTPServer.start(tls: .init(certificates.server)) { _ in .noContent }
/// ```
public struct TestCertificates: Sendable {
    /// A certificate and its private key, as PEM files.
    public struct Identity: Sendable {
        public let certificate: String
        public let key: String
    }

    public let directory: String
    /// The CA's certificate: what `WEBHOOK_CA_FILE` trusts.
    public let authority: String
    /// Signed by the CA for `localhost` and `127.0.0.1`.
    public let server: Identity
    /// Signed by the CA, but for `other.example` only: a name mismatch on loopback.
    public let wrongName: Identity
    /// Self-signed for `localhost` and `127.0.0.1`: not trusted by the CA file.
    public let untrusted: Identity
    /// A client certificate signed by the CA (mTLS).
    public let client: Identity
    /// A client certificate from another, untrusted authority.
    public let strangerClient: Identity

    /// Makes a CA and the certificates above (EC P-256, valid two days).
    /// - Throws: ``TestCertificatesError`` with openssl's output when a command fails.
    public static func make() throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "test-certs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory + "/" + name }
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(["req", "-x509"] + curve + ["-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=clipping-worker test CA"])
        try openssl(["req", "-x509"] + curve + ["-keyout", path("stranger-ca.key"), "-out", path("stranger-ca.pem"), "-days", "2", "-subj", "/CN=stranger CA"])
        func signed(_ name: String, subject: String, extensions: String, authority: String = "ca") throws -> Identity {
            try extensions.write(toFile: path(name + ".ext"), atomically: true, encoding: .utf8)
            try openssl(["req"] + curve + ["-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", subject])
            try openssl([
                "x509", "-req", "-in", path(name + ".csr"), "-CA", path(authority + ".pem"), "-CAkey", path(authority + ".key"),
                "-CAcreateserial", "-out", path(name + ".pem"), "-days", "2", "-extfile", path(name + ".ext"),
            ])
            return Identity(certificate: path(name + ".pem"), key: path(name + ".key"))
        }
        let server = try signed("server", subject: "/CN=localhost", extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        let wrongName = try signed("wrong-name", subject: "/CN=other.example", extensions: "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n")
        let client = try signed("client", subject: "/CN=clipping-worker", extensions: "extendedKeyUsage=clientAuth\n")
        let stranger = try signed(
            "stranger-client", subject: "/CN=stranger", extensions: "extendedKeyUsage=clientAuth\n", authority: "stranger-ca")
        try openssl(["req", "-x509"] + curve + [
            "-keyout", path("untrusted.key"), "-out", path("untrusted.pem"), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        return TestCertificates(
            directory: directory, authority: path("ca.pem"), server: server, wrongName: wrongName,
            untrusted: Identity(certificate: path("untrusted.pem"), key: path("untrusted.key")), client: client,
            strangerClient: stranger)
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestCertificatesError(message: "openssl \(arguments.first ?? ""): " + String(decoding: text, as: UTF8.self))
        }
    }
}

public struct TestCertificatesError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
