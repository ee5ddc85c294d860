import CCurl

/// A request's header lines as a `curl_slist` laid out in one allocation: the nodes first, then
/// their NUL-terminated strings.
///
/// `curl_slist_append` allocates a node and a copy of the string per line and walks the list
/// each time; a webhook attempt has nine lines (eight headers and the empty `Expect:`), so that
/// was eighteen allocations and as many frees per attempt on the multi thread. libcurl only reads
/// the list (`CURLOPT_HTTPHEADER`); the transfer frees the block after it is removed from the
/// multi handle.
struct CurlHeaderBlock {
    private let base: UnsafeMutableRawPointer

    /// The first node, for `CURLOPT_HTTPHEADER`.
    var list: UnsafeMutablePointer<curl_slist> { base.assumingMemoryBound(to: curl_slist.self) }

    /// Lays out `lines`, then `Expect:` (libcurl sends no `Expect: 100-continue` then).
    init(_ lines: [String]) {
        let count = lines.count + 1
        let nodes = count * MemoryLayout<curl_slist>.stride
        var bytes = nodes + "Expect:".utf8.count + 1
        for line in lines { bytes += line.utf8.count + 1 }
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: MemoryLayout<curl_slist>.alignment)
        let node = base.bindMemory(to: curl_slist.self, capacity: count)
        var text = (base + nodes).assumingMemoryBound(to: CChar.self)
        func put(_ line: String, at index: Int) {
            var line = line
            let length = line.withUTF8 { source in
                if let start = source.baseAddress { UnsafeMutableRawPointer(text).copyMemory(from: start, byteCount: source.count) }
                return source.count
            }
            text[length] = 0
            (node + index).initialize(to: curl_slist(data: text, next: index + 1 < count ? node + index + 1 : nil))
            text += length + 1
        }
        for (index, line) in lines.enumerated() { put(line, at: index) }
        put("Expect:", at: lines.count)
    }

    /// Frees the block; the list must no longer be in use by libcurl.
    func free() {
        base.deallocate()
    }
}
