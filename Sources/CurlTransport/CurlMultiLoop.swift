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

    init(
        multi: CurlHTTPClient.MultiHandle, configuration: CurlClientConfiguration,
        shared: CurlHTTPClient.SharedState, finished: DispatchSemaphore
    ) {
        self.multi = multi.pointer
        self.configuration = configuration
        self.shared = shared
        self.finished = finished
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
        var list: UnsafeMutablePointer<curl_slist>?
        for header in transfer.headers { list = curl_slist_append(list, header) }
        list = curl_slist_append(list, "Expect:")
        transfer.headerList = list

        ccurl_easy_setopt_string(easy, CURLOPT_URL, transfer.url)
        ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.wholeMilliseconds))
        ccurl_easy_setopt_long(
            easy, CURLOPT_TIMEOUT_MS, Int((transfer.totalTimeout ?? configuration.totalTimeout).wholeMilliseconds))
        ccurl_easy_setopt_string(easy, CURLOPT_PROXY, configuration.proxy ?? "")
        ccurl_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        if let descriptor = transfer.uploadDescriptor {
            _ = descriptor
            ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1)
            ccurl_easy_setopt_off_t(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(transfer.uploadSize))
            ccurl_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION, CurlCallbacks.read)
            ccurl_easy_setopt_pointer(easy, CURLOPT_READDATA, transfer.pointer)
        } else if transfer.body != nil || transfer.method == "POST" {
            let body = transfer.body ?? []
            ccurl_easy_setopt_long(easy, CURLOPT_POST, 1)
            ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            _ = body.withUnsafeBufferPointer { bytes in
                // COPYPOSTFIELDS copies, so the Swift array need not outlive this call.
                ccurl_easy_setopt_pointer(
                    easy, CURLOPT_COPYPOSTFIELDS,
                    UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!))
            }
        } else {
            ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        }
        if let signing = transfer.signing {
            ccurl_easy_setopt_string(easy, CURLOPT_AWS_SIGV4, signing.provider)
            ccurl_easy_setopt_string(easy, CURLOPT_USERNAME, signing.accessKeyID)
            ccurl_easy_setopt_string(easy, CURLOPT_PASSWORD, signing.secretAccessKey)
        }
        if transfer.method != "GET" && transfer.method != "POST" && transfer.uploadDescriptor == nil {
            ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, transfer.method)
        }
        ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, CurlCallbacks.write)
        ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, transfer.pointer)
        ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, CurlCallbacks.header)
        ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, transfer.pointer)
        ccurl_easy_setopt_opensocket(easy, CurlCallbacks.openSocket)
        ccurl_easy_setopt_pointer(easy, CURLOPT_OPENSOCKETDATA, transfer.pointer)
        ccurl_easy_setopt_pointer(easy, CURLOPT_PRIVATE, transfer.pointer)

        transfer.started = ContinuousClock.now
        running[transfer.id] = transfer
        let added = curl_multi_add_handle(multi, easy)
        if added != CURLM_OK {
            end(transfer, with: .failure(TransportError(.internalError, "curl_multi_add_handle failed (\(added.rawValue))")))
        }
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
        if let list = transfer.headerList {
            curl_slist_free_all(list)
            transfer.headerList = nil
        }
        running[transfer.id] = nil
        forget(transfer.id)
        transfer.finish(result)
    }

    private func forget(_ id: UInt64) {
        shared.withLock { _ = $0.active.remove(id) }
    }

    private func result(of transfer: CurlTransfer, code: CURLcode) -> Result<CurlOutcome, TransportError> {
        let duration = ContinuousClock.now - transfer.started
        var status = 0
        if let easy = transfer.easy { ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status) }
        // A status line that arrived stands, even when the body was cut afterwards (limit,
        // timeout, reset): SPEC section 6 counts a 2xx within the timeout as delivered. Callers
        // that need the whole body check `endedEarly` and `bodyCut`.
        if status >= 100 {
            return .success(
                CurlOutcome(
                    status: status, headers: transfer.responseHeaders, retryAfter: transfer.retryAfter,
                    body: transfer.received, bodyBytes: transfer.bodyBytes, bodyCut: transfer.bodyCut,
                    endedEarly: code != CURLE_OK && !transfer.bodyCut, writeFailed: transfer.writeFailed,
                    duration: duration))
        }
        return .failure(Self.transportError(code, transfer: transfer))
    }

    static func transportError(_ code: CURLcode, transfer: CurlTransfer) -> TransportError {
        let text = String(cString: curl_easy_strerror(code))
        let raw = Int32(code.rawValue)
        if let refusal = transfer.policyRefusal {
            return TransportError(.refusedByPolicy, "address refused: \(refusal)", curlCode: raw)
        }
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return TransportError(.invalidURL, text, curlCode: raw)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return TransportError(.dnsFailed, text, curlCode: raw)
        case CURLE_COULDNT_CONNECT:
            return TransportError(.connectFailed, text, curlCode: raw)
        case CURLE_OPERATION_TIMEDOUT:
            return TransportError(.timedOut, text, curlCode: raw)
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return TransportError(.connectionReset, text, curlCode: raw)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE:
            return TransportError(.tlsFailed, text, curlCode: raw)
        case CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP3:
            return TransportError(.protocolError, text, curlCode: raw)
        default:
            return TransportError(.internalError, text, curlCode: raw)
        }
    }
}
