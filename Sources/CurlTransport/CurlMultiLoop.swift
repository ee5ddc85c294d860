import CCurl
import Foundation
import WebhookCore

/// The body of the multi thread: adds new transfers, drives libcurl, finishes what completed.
/// Everything here runs on that one thread; only ``CurlHTTPClient`` touches `shared`, under its lock.
final class CurlMultiLoop: @unchecked Sendable {
    // @unchecked: after `run()` starts, the instance is used by the multi thread alone.
    private let multi: UnsafeMutableRawPointer
    private let configuration: CurlClientConfiguration
    private let shared: CurlHTTPClient.SharedState
    private let finished: DispatchSemaphore
    private var running: [UInt64: CurlTransfer] = [:]
    private var spareHandles: [UnsafeMutableRawPointer] = []
    /// `CURLOPT_RESOLVE` list from ``CurlClientConfiguration/pinnedAddresses``; lives as long as the loop.
    private let pinnedAddresses: UnsafeMutablePointer<curl_slist>?

    init(
        multi: CurlHTTPClient.MultiHandle, configuration: CurlClientConfiguration,
        shared: CurlHTTPClient.SharedState, finished: DispatchSemaphore
    ) {
        self.multi = multi.pointer
        self.configuration = configuration
        self.shared = shared
        self.finished = finished
        var list: UnsafeMutablePointer<curl_slist>?
        for entry in configuration.pinnedAddresses { list = curl_slist_append(list, entry) }
        pinnedAddresses = list
    }

    func run() {
        var stillRunning: Int32 = 0
        while true {
            let (incoming, cancelled, shuttingDown) = shared.withLock { box in
                defer {
                    box.incoming.removeAll(keepingCapacity: true)
                    box.cancelled.removeAll(keepingCapacity: true)
                }
                return (box.incoming, box.cancelled, box.shuttingDown)
            }
            for transfer in incoming { start(transfer) }
            for id in cancelled {
                if let transfer = running[id] {
                    end(transfer, with: .failure(TransportError(.cancelled, "the delivery was cancelled")))
                }
            }
            if shuttingDown {
                for transfer in Array(running.values) {
                    end(transfer, with: .failure(TransportError(.shutdown, "the HTTP client is shut down")))
                }
                for handle in spareHandles { curl_easy_cleanup(handle) }
                spareHandles.removeAll()
                if let pinnedAddresses { curl_slist_free_all(pinnedAddresses) }
                shared.withLock { $0.stopped = true }
                finished.signal()
                return
            }
            curl_multi_perform(multi, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                var raw: UnsafeMutableRawPointer?
                ccurl_easy_getinfo_pointer(easy, CURLINFO_PRIVATE, &raw)
                guard let raw else { continue }
                let transfer = CurlTransfer.from(raw)
                end(transfer, with: result(of: transfer, code: message.pointee.data.result))
            }
            var descriptors: Int32 = 0
            curl_multi_poll(multi, nil, 0, 1000, &descriptors)
        }
    }

    private func start(_ transfer: CurlTransfer) {
        guard let easy = spareHandles.popLast() ?? curl_easy_init() else {
            transfer.finish(.failure(TransportError(.internalError, "curl_easy_init failed")))
            forget(transfer.id)
            return
        }
        transfer.easy = easy
        let headers = CurlHeaderBlock(transfer.headers)
        transfer.headerBlock = headers
        // Every option's return code counts: an option libcurl refused (an old libcurl, a build
        // without a feature) would send the request without it (around the proxy, without the
        // client certificate, to any protocol). Such a transfer fails instead.
        var refused: (option: String, code: CURLcode)?
        func check(_ code: CURLcode, _ option: String) {
            if code != CURLE_OK && refused == nil { refused = (option, code) }
        }
        if let failure = Self.applyClientOptions(easy, configuration) { refused = failure }
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer), "CURLOPT_ERRORBUFFER")

        check(ccurl_easy_setopt_string(easy, CURLOPT_URL, transfer.url), "CURLOPT_URL")
        check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL")
        check(ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "CURLOPT_REDIR_PROTOCOLS_STR")
        if configuration.maxRedirects > 0 {
            // Each hop opens its connections through the open-socket callback: the policy holds per hop.
            check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 1), "CURLOPT_FOLLOWLOCATION")
            check(ccurl_easy_setopt_long(easy, CURLOPT_MAXREDIRS, configuration.maxRedirects), "CURLOPT_MAXREDIRS")
            transfer.followsRedirects = true
        } else {
            check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0), "CURLOPT_FOLLOWLOCATION")
        }
        check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.wholeMilliseconds)), "CURLOPT_CONNECTTIMEOUT_MS")
        check(ccurl_easy_setopt_long(
            easy, CURLOPT_TIMEOUT_MS, Int((transfer.totalTimeout ?? configuration.totalTimeout).wholeMilliseconds)), "CURLOPT_TIMEOUT_MS")
        check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1), "CURLOPT_TCP_NODELAY")
        check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headers.list), "CURLOPT_HTTPHEADER")
        if let pinnedAddresses { check(ccurl_easy_setopt_slist(easy, CURLOPT_RESOLVE, pinnedAddresses), "CURLOPT_RESOLVE") }
        if let descriptor = transfer.uploadDescriptor {
            _ = descriptor
            check(ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1), "CURLOPT_UPLOAD")
            check(ccurl_easy_setopt_off_t(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(transfer.uploadSize)), "CURLOPT_INFILESIZE_LARGE")
            check(ccurl_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION, CurlCallbacks.read), "CURLOPT_READFUNCTION")
            check(ccurl_easy_setopt_pointer(easy, CURLOPT_READDATA, transfer.pointer), "CURLOPT_READDATA")
        } else if transfer.body != nil || transfer.method == "POST" {
            let body = transfer.body ?? []
            check(ccurl_easy_setopt_long(easy, CURLOPT_POST, 1), "CURLOPT_POST")
            check(ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "CURLOPT_POSTFIELDSIZE_LARGE")
            _ = body.withUnsafeBufferPointer { bytes in
                // COPYPOSTFIELDS copies, so the Swift array need not outlive this call.
                check(ccurl_easy_setopt_pointer(
                    easy, CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)), "CURLOPT_COPYPOSTFIELDS")
            }
        } else {
            check(ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1), "CURLOPT_HTTPGET")
        }
        if let signing = transfer.signing {
            check(ccurl_easy_setopt_string(easy, CURLOPT_AWS_SIGV4, signing.provider), "CURLOPT_AWS_SIGV4")
            check(ccurl_easy_setopt_string(easy, CURLOPT_USERNAME, signing.accessKeyID), "CURLOPT_USERNAME")
            check(ccurl_easy_setopt_string(easy, CURLOPT_PASSWORD, signing.secretAccessKey), "CURLOPT_PASSWORD")
        }
        if transfer.method != "GET" && transfer.method != "POST" && transfer.uploadDescriptor == nil {
            check(ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, transfer.method), "CURLOPT_CUSTOMREQUEST")
        }
        check(ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, CurlCallbacks.write), "CURLOPT_WRITEFUNCTION")
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, transfer.pointer), "CURLOPT_WRITEDATA")
        check(ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, CurlCallbacks.header), "CURLOPT_HEADERFUNCTION")
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, transfer.pointer), "CURLOPT_HEADERDATA")
        check(ccurl_easy_setopt_opensocket(easy, CurlCallbacks.openSocket), "CURLOPT_OPENSOCKETFUNCTION")
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, transfer.pointer), "CURLOPT_OPENSOCKETDATA")
        check(ccurl_easy_setopt_prereq(easy, CurlCallbacks.prerequest), "CURLOPT_PREREQFUNCTION")
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_PREREQDATA, transfer.pointer), "CURLOPT_PREREQDATA")
        check(ccurl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, transfer.pointer), "CURLOPT_PRIVATE")

        if let refused {
            running[transfer.id] = transfer
            end(transfer, with: .failure(TransportError(
                .internalError, "libcurl refused \(refused.option): \(String(cString: curl_easy_strerror(refused.code)))")))
            return
        }
        transfer.started = ContinuousClock.now
        running[transfer.id] = transfer
        let added = curl_multi_add_handle(multi, easy)
        if added != CURLM_OK {
            end(transfer, with: .failure(TransportError(.internalError, "curl_multi_add_handle failed (\(added.rawValue))")))
        }
    }

    /// The options every transfer of this client gets: protocols, TLS verification and identity,
    /// proxy. Returns the first option libcurl refused (see ``CurlHTTPClient/checkOptions(_:)``).
    static func applyClientOptions(
        _ easy: UnsafeMutableRawPointer, _ configuration: CurlClientConfiguration
    ) -> (option: String, code: CURLcode)? {
        // Checked one by one, without building a list: this runs for every delivery.
        var code = ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        if code != CURLE_OK { return ("CURLOPT_PROTOCOLS_STR", code) }
        code = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1)
        if code != CURLE_OK { return ("CURLOPT_SSL_VERIFYPEER", code) }
        code = ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2)
        if code != CURLE_OK { return ("CURLOPT_SSL_VERIFYHOST", code) }
        // An empty proxy turns off the environment's (`http_proxy`, `ALL_PROXY`).
        code = ccurl_easy_setopt_string(easy, CURLOPT_PROXY, configuration.proxy ?? "")
        if code != CURLE_OK { return ("CURLOPT_PROXY", code) }
        if configuration.proxy != nil {
            code = ccurl_easy_setopt_long(easy, CURLOPT_PROXYTYPE, Int(CURLPROXY_HTTP.rawValue))
            if code != CURLE_OK { return ("CURLOPT_PROXYTYPE", code) }
        }
        if let caFile = configuration.caFile {
            code = ccurl_easy_setopt_string(easy, CURLOPT_CAINFO, caFile)
            if code != CURLE_OK { return ("CURLOPT_CAINFO", code) }
        }
        if let certificate = configuration.clientCertificate, let key = configuration.clientKey {
            code = ccurl_easy_setopt_string(easy, CURLOPT_SSLCERT, certificate)
            if code != CURLE_OK { return ("CURLOPT_SSLCERT", code) }
            code = ccurl_easy_setopt_string(easy, CURLOPT_SSLCERTTYPE, "PEM")
            if code != CURLE_OK { return ("CURLOPT_SSLCERTTYPE", code) }
            code = ccurl_easy_setopt_string(easy, CURLOPT_SSLKEY, key)
            if code != CURLE_OK { return ("CURLOPT_SSLKEY", code) }
            code = ccurl_easy_setopt_string(easy, CURLOPT_SSLKEYTYPE, "PEM")
            if code != CURLE_OK { return ("CURLOPT_SSLKEYTYPE", code) }
        }
        return nil
    }

    /// Detaches the transfer from libcurl, recycles its handle and resumes its caller.
    private func end(_ transfer: CurlTransfer, with result: Result<CurlOutcome, TransportError>) {
        if let easy = transfer.easy {
            curl_multi_remove_handle(multi, easy)
            if spareHandles.count < 512 {
                curl_easy_reset(easy)
                spareHandles.append(easy)
            } else {
                curl_easy_cleanup(easy)
            }
            transfer.easy = nil
        }
        transfer.headerBlock?.free()
        transfer.headerBlock = nil
        running[transfer.id] = nil
        forget(transfer.id)
        transfer.finish(result)
    }

    private func forget(_ id: UInt64) {
        shared.withLock { _ = $0.active.remove(id) }
    }

    /// Shapes a finished transfer: an answer when a final status arrived, else a transport error.
    ///
    /// Only a status of 200 or more is an answer. A `1xx` is interim (`100 Continue`, `101`,
    /// `103 Early Hints`): libcurl reports it as the response code when nothing followed, but the
    /// receiver has not answered yet, so the failure that ended the wait decides (a timeout stays a
    /// retryable timeout, not a final "HTTP 100").
    private func result(of transfer: CurlTransfer, code: CURLcode) -> Result<CurlOutcome, TransportError> {
        let duration = ContinuousClock.now - transfer.started
        var status = 0
        if let easy = transfer.easy { ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status) }
        // A final status line that arrived stands, even when the body was cut afterwards (limit,
        // timeout, reset): SPEC section 6 counts a 2xx within the timeout as delivered. Callers
        // that need the whole body check `endedEarly` and `bodyCut`.
        // Following a redirect failed (a refused hop, too many hops, a bad Location): the 3xx
        // that libcurl still reports is not the answer, the failure of the next hop is.
        let redirectFailed = transfer.followsRedirects && code != CURLE_OK && (300..<400).contains(status)
        if status >= 200 && !redirectFailed {
            return .success(
                CurlOutcome(
                    status: status, headers: transfer.responseHeaders, retryAfter: transfer.retryAfter,
                    deliveryDirective: transfer.deliveryDirective,
                    body: transfer.received, bodyBytes: transfer.bodyBytes, bodyCut: transfer.bodyCut,
                    endedEarly: code != CURLE_OK && !transfer.bodyCut, writeFailed: transfer.writeFailed,
                    duration: duration))
        }
        if code == CURLE_OK {
            // libcurl saw the transfer through, yet no final status came (only an interim one).
            return .failure(
                TransportError(.protocolError, "the receiver sent no final status (last: \(status))", curlCode: 0))
        }
        return .failure(Self.transportError(code, transfer: transfer))
    }

    /// Maps the `CURLcode` of a transfer that got no final status to a ``TransportError``.
    ///
    /// The curl code says what ended the transfer; two facts gathered by the callbacks refine it:
    ///
    /// **SSRF refusals.** libcurl tries each resolved address in turn (IPv6 and IPv4 raced, happy
    /// eyeballs), and the open-socket callback refuses the ones the ``NetworkPolicy`` forbids. One
    /// transfer can thus see a refused address *and* a real failure on another. A refusal is final
    /// only when it is what ended the transfer:
    ///
    /// | refused | allowed | curl code                | result                                            |
    /// |---------|---------|--------------------------|---------------------------------------------------|
    /// | ≥ 1     | 0       | `COULDNT_CONNECT`        | `.refusedByPolicy` (final): every candidate refused |
    /// | ≥ 1     | ≥ 1     | any                      | by the curl code: `.timedOut`, `.connectFailed`, … |
    /// | ≥ 1     | 0       | other (e.g. a timeout)   | by the curl code                                  |
    /// | 0       | any     | any                      | by the curl code                                  |
    ///
    /// ("refused" / "allowed": addresses the open-socket callback refused / let through to `socket()`.)
    ///
    /// Retrying a mixed case is safe: the policy is checked again on every attempt, so a refused
    /// address is never reached; calling it final would instead drop a delivery whose allowed
    /// address was only slow or down. The refusal is kept in the message for operators.
    ///
    /// **URL or reply.** `CURLE_UNSUPPORTED_PROTOCOL` and `CURLE_URL_MALFORMAT` mean a bad URL (not
    /// http/https, unparsable: final `.invalidURL`) only before a connection was made. Once it was
    /// (the prereq callback ran), libcurl uses `CURLE_UNSUPPORTED_PROTOCOL` for replies that are not
    /// HTTP: a line that is not a status line (HTTP/0.9, refused by default in 7.88), a status below
    /// 100, an unknown version. Those are `.protocolError`: a misbehaving receiver, retryable.
    static func transportError(_ code: CURLcode, transfer: CurlTransfer) -> TransportError {
        let raw = Int32(code.rawValue)
        if let tls = tlsFailure(code, detail: transfer.errorDetail) {
            return TransportError(.tlsFailed, tls, curlCode: raw)
        }
        let text = String(cString: curl_easy_strerror(code))
        if let refusal = transfer.policyRefusal {
            if code == CURLE_COULDNT_CONNECT && transfer.allowedAddresses == 0 {
                return TransportError(.refusedByPolicy, "address refused: \(refusal)", curlCode: raw)
            }
            let count = transfer.refusedAddresses
            let others = count == 1 ? "another address" : "\(count) other addresses"
            let noted = "\(text) (the network policy refused \(others): \(refusal))"
            return TransportError(codeClass(of: code, connected: transfer.connected), noted, curlCode: raw)
        }
        return TransportError(codeClass(of: code, connected: transfer.connected), text, curlCode: raw)
    }

    /// A TLS failure in words an operator reads at 3 a.m. (`tls: certificate verify failed: …`),
    /// with libcurl's detail (the verify result, the alert the server sent), or nil when the
    /// failure is not about TLS. A server that demands a client certificate and gets none ends
    /// the handshake with an alert that, under TLS 1.3, reaches the client as a receive error.
    static func tlsFailure(_ code: CURLcode, detail: String?) -> String? {
        let detail = detail.map { ": " + $0 } ?? ""
        switch code {
        case CURLE_PEER_FAILED_VERIFICATION:
            return "tls: certificate verify failed" + detail
        case CURLE_SSL_CONNECT_ERROR:
            return "tls: handshake failed" + detail
        case CURLE_SSL_CERTPROBLEM:
            return "tls: the client certificate or key was not usable" + detail
        case CURLE_SSL_CACERT_BADFILE:
            return "tls: cannot read the CA file" + detail
        case CURLE_SSL_CIPHER:
            return "tls: no cipher in common" + detail
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            guard detail.contains("SSL") || detail.contains("alert") else { return nil }
            return "tls: the receiver ended the connection during TLS" + detail
        default:
            return nil
        }
    }

    /// The class of a curl failure; `connected` tells a reply problem from a URL problem.
    static func codeClass(of code: CURLcode, connected: Bool) -> TransportError.Code {
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return connected ? .protocolError : .invalidURL
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .dnsFailed
        case CURLE_COULDNT_CONNECT:
            return .connectFailed
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return .connectionReset
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE:
            return .tlsFailed
        case CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP3, CURLE_TOO_MANY_REDIRECTS:
            return .protocolError
        default:
            return .internalError
        }
    }
}
