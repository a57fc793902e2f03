// libFuzzer entry point for ServerURL(_:) and ServerURL.parseList. Built by Tools/fuzz.sh,
// not by Package.swift.
//
// Input layout: byte 0 = config (bits 0-1: default scheme nats / tls / ws / wss; bit 2:
// parse as a comma-separated list), then the text (decoded as UTF-8, invalid bytes
// replaced). The first NUL byte in the text, if any, is replaced by a canary secret
// "QzCanary7Secret9Z" that appears nowhere else.
//
// Checks:
// - When the canary sits in the password (or the token: user info without a colon), it
//   must not appear in the description, debugDescription, mirror, address, or an error's
//   description or url; on success it must be in `password` (or `token`).
// - A parsed URL has a port in 1...65535 and a path only for WebSocket schemes; the
//   memberwise initializer accepts its parts and gives an equal URL; its description parses
//   back to the same scheme, host, port, path and user (the secret as "<redacted>").
import NATSTransport

private func fail(_ message: String) -> Never {
    fatalError("URLFuzz: \(message)")
}

private let canary = "QzCanary7Secret9Z"
private let canaryLower = Array(canary.lowercased().utf8)

/// Whether `text` contains the canary, ignoring ASCII case.
private func leaks(_ text: String) -> Bool {
    let bytes = text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    guard bytes.count >= canaryLower.count else { return false }
    for i in 0...(bytes.count - canaryLower.count) where bytes[i..<i + canaryLower.count].elementsEqual(canaryLower) {
        return true
    }
    return false
}

private func occurrences(_ text: String) -> Int {
    text.utf8.count < canary.utf8.count ? 0 : text.ranges(of: canary).count
}

private func isSchemeLike(_ s: Substring) -> Bool {
    guard let first = s.utf8.first, first.isASCIILetter else { return false }
    return s.utf8.allSatisfy { $0.isASCIILetter || (0x30...0x39).contains($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }
}

extension UInt8 {
    fileprivate var isASCIILetter: Bool { (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
}

private enum Placement {
    case notSecret
    /// In the text after the first colon of the user info.
    case password
    /// The user info has no colon: it is a token.
    case token
}

/// Where the canary lies in one URL, mirroring the parser's split: scheme "://", user
/// info up to the last "@" before the first "/".
private func placement(in entry: Substring) -> Placement {
    var input = entry
    while let c = input.first, c.isWhitespace { input.removeFirst() }
    while let c = input.last, c.isWhitespace { input.removeLast() }
    guard let found = input.firstRange(of: canary) else { return .notSecret }
    var rest = input
    if let range = input.firstRange(of: "://") {
        let candidate = input[..<range.lowerBound]
        if candidate.isEmpty || isSchemeLike(candidate) { rest = input[range.upperBound...] }
    }
    let head = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
    guard let at = head.lastIndex(of: "@") else { return .notSecret }
    let userInfo = head[..<at]
    guard found.lowerBound >= userInfo.startIndex, found.upperBound <= userInfo.endIndex else { return .notSecret }
    if let colon = userInfo.firstIndex(of: ":") {
        return found.lowerBound > colon ? .password : .notSecret
    }
    return .token
}

private func shownTexts(_ url: ServerURL) -> [String] {
    var dumped = ""
    dump(url, to: &dumped)
    return [url.description, url.debugDescription, String(reflecting: url), "\(url)", dumped, url.address.description]
}

private func checkURL(_ url: ServerURL, secret: Placement) {
    for text in shownTexts(url) where secret != .notSecret && leaks(text) {
        fail("secret shown in \(text.debugDescription)")
    }
    switch secret {
    case .password:
        if !(url.password.map(leaks) ?? false) { fail("canary not in the password of \(url)") }
    case .token:
        if !(url.token.map(leaks) ?? false) { fail("canary not in the token of \(url)") }
    case .notSecret:
        break
    }
    if !(1...65535).contains(url.port) { fail("port \(url.port)") }
    if url.host.isEmpty { fail("empty host") }
    if !url.isWebSocket && !url.path.isEmpty { fail("path \(url.path) on \(url.scheme)") }
    if url.hasCredentials != (url.user != nil || url.password != nil) { fail("hasCredentials") }

    do {
        let rebuilt = try ServerURL(
            scheme: url.scheme, host: url.host, port: url.port, user: url.user, password: url.password, path: url.path)
        if rebuilt != url { fail("memberwise init gives \(rebuilt) for \(url)") }
    } catch {
        fail("memberwise init rejects the parts of \(url): \(error)")
    }

    let again: ServerURL
    do {
        again = try ServerURL(url.description)
    } catch {
        fail("description \(url.description.debugDescription) does not parse: \(error)")
    }
    if again.scheme != url.scheme || again.host != url.host || again.port != url.port || again.path != url.path {
        fail("description \(url.description.debugDescription) parses to \(again)")
    }
    if url.password != nil && (again.user != (url.user ?? "") || again.password != "<redacted>") {
        fail("user info of \(url.description.debugDescription) parses back wrong")
    }
    if url.password == nil && url.user != nil && again.token != "<redacted>" {
        fail("token of \(url.description.debugDescription) parses back wrong")
    }
}

private func checkError(_ error: ServerURLError, secret: Placement) {
    guard secret != .notSecret else { return }
    for text in [error.description, error.url ?? "", String(reflecting: error)] where leaks(text) {
        fail("secret shown in error \(text.debugDescription)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerURL(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data, count: count)
    let config = input[0]
    let schemes: [ServerURL.Scheme] = [.nats, .tls, .ws, .wss]
    let defaultScheme = schemes[Int(config & 3)]
    let bytes = input[1...]
    var text: String
    if let nul = bytes.firstIndex(of: 0) {
        text = String(decoding: bytes[..<nul], as: UTF8.self) + canary
            + String(decoding: bytes[(nul + 1)...], as: UTF8.self)
        // The canary must be findable as characters and unique.
        if occurrences(text) != 1 || text.firstRange(of: canary) == nil { return 0 }
    } else {
        text = String(decoding: bytes, as: UTF8.self)
    }

    if config & 4 == 0 {
        let secret = placement(in: text[...])
        do {
            checkURL(try ServerURL(text, defaultScheme: defaultScheme), secret: secret)
        } catch {
            checkError(error, secret: secret)
        }
    } else {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false)
        let secret = entries.map(placement(in:)).first { $0 != .notSecret } ?? .notSecret
        do {
            let urls = try ServerURL.parseList(text)
            if urls.isEmpty { fail("empty list parsed") }
            let nonEmpty = entries.filter { !$0.allSatisfy(\.isWhitespace) }
            if urls.count != nonEmpty.count { fail("\(urls.count) URLs from \(nonEmpty.count) entries") }
            for (url, entry) in zip(urls, nonEmpty) { checkURL(url, secret: placement(in: entry)) }
        } catch {
            checkError(error, secret: secret)
        }
    }
    return 0
}
