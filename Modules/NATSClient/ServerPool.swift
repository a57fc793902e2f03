import NATSTransport

/// The servers a client may connect to: the URLs it was given plus those the cluster
/// announced. Pure: no I/O, no clock of its own; randomness is injected.
struct ServerPool: Sendable {
    struct Entry: Sendable, Equatable {
        var url: ServerURL
        /// Given by the user (never removed by INFO updates).
        var explicit: Bool
        /// Failed attempts since the last success.
        var failedAttempts = 0
        /// Consecutive authorization errors.
        var authErrors = 0
        /// When it was last tried (monotonic), if ever.
        var lastAttempt: Moment? = nil
    }

    private(set) var entries: [Entry]

    init(urls: [ServerURL], shuffle: Bool, using rng: inout some RandomNumberGenerator) {
        var list = urls
        if shuffle { list.shuffle(using: &rng) }
        var seen = Set<String>()
        entries = []
        for url in list where seen.insert(Self.key(url)).inserted {
            entries.append(Entry(url: url, explicit: true))
        }
    }

    static func key(_ url: ServerURL) -> String { "\(url.host.lowercased()):\(url.port)" }

    var isEmpty: Bool { entries.isEmpty }
    var urls: [ServerURL] { entries.map(\.url) }

    /// The next server to try: the first entry, moved to the back.
    mutating func next() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let e = entries.removeFirst()
        entries.append(e)
        return e
    }

    mutating func recordAttempt(_ url: ServerURL, at instant: Moment) {
        update(url) { $0.lastAttempt = instant }
    }

    /// A failed attempt; removes the server once it failed `maxAttempts` times in a row
    /// (negative: never), as nats.go's MaxReconnects does. Returns whether it was removed.
    @discardableResult
    mutating func recordFailure(_ url: ServerURL, maxAttempts: Int, authError: Bool, abortOnRepeatedAuthError: Bool) -> Bool {
        guard let i = index(of: url) else { return false }
        entries[i].failedAttempts += 1
        entries[i].authErrors = authError ? entries[i].authErrors + 1 : 0
        let exhausted = maxAttempts >= 0 && entries[i].failedAttempts >= maxAttempts
        let authAbort = abortOnRepeatedAuthError && entries[i].authErrors >= 2
        if exhausted || authAbort {
            entries.remove(at: i)
            return true
        }
        return false
    }

    mutating func recordSuccess(_ url: ServerURL) {
        update(url) {
            $0.failedAttempts = 0
            $0.authErrors = 0
        }
    }

    /// Merges URLs announced in INFO (`host:port`), keeping `template`'s scheme and
    /// credentials. Discovered servers no longer announced leave the pool, unless explicit.
    /// Returns the URLs that were added.
    mutating func mergeDiscovered(_ announced: [String], template: ServerURL, using rng: inout some RandomNumberGenerator, shuffle: Bool) -> [ServerURL] {
        var parsed: [ServerURL] = []
        for hostPort in announced {
            let text = "\(template.scheme.name)://\(hostPort)"
            guard let u = try? ServerURL(text) else { continue }
            let withCreds = (try? ServerURL(
                scheme: template.scheme, host: u.host, port: u.port,
                user: template.user, password: template.password, path: template.path
            )) ?? u
            parsed.append(withCreds)
        }
        let announcedKeys = Set(parsed.map(Self.key))
        entries.removeAll { !$0.explicit && !announcedKeys.contains(Self.key($0.url)) }
        var added: [ServerURL] = []
        for url in parsed where index(of: url) == nil {
            added.append(url)
        }
        if shuffle { added.shuffle(using: &rng) }
        entries.append(contentsOf: added.map { Entry(url: $0, explicit: false) })
        return added
    }

    private func index(of url: ServerURL) -> Int? {
        let k = Self.key(url)
        return entries.firstIndex { Self.key($0.url) == k }
    }

    private mutating func update(_ url: ServerURL, _ body: (inout Entry) -> Void) {
        if let i = index(of: url) { body(&entries[i]) }
    }
}

/// The wait before trying a server again.
enum Backoff {
    /// `wait` plus a random jitter in `0...jitter` (the TLS jitter when TLS is used), or the
    /// user's delay function for the given pass number. `random` is in `0...1`.
    static func delay(pass: Int, tls: Bool, options: ConnectOptions.Reconnect, random: Double) -> Duration {
        if let custom = options.delay { return custom(pass) }
        let jitter = tls ? options.jitterTLS : options.jitter
        return options.wait + jitter * min(max(random, 0), 1)
    }
}
