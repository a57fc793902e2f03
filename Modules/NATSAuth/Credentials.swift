#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A user JWT and the NKey that signs for it, as stored in a NATS `.creds` file.
///
/// `description` shows the JWT's subject and the key's public key, never the JWT or seed.
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The user JWT.
    public var jwt: String
    /// The user's key pair, which signs the server nonce.
    public var keyPair: NKeyPair

    /// Pairs a JWT with its key.
    public init(jwt: String, keyPair: NKeyPair) {
        self.jwt = jwt
        self.keyPair = keyPair
    }

    /// Parses the text of a `.creds` file.
    ///
    /// Accepts the standard layout (a `-----BEGIN NATS USER JWT-----` block, then a
    /// `-----BEGIN USER NKEY SEED-----` block) and tolerates CRLF line ends, blank lines
    /// inside a block, a missing final newline, any run of 3 or more dashes in the marker
    /// lines and whitespace around everything. As nats.go does, when there is no JWT block a
    /// bare JWT line is used, and when there is no seed block a bare line starting with
    /// `SU`, `SA` or `SO` is used.
    ///
    /// - Throws: `AuthError` naming the missing or malformed part (`.invalidCredentials`), or
    ///   `.invalidSeed` saying what is wrong with the seed. Never the secret itself.
    public init(contents: String) throws(AuthError) {
        var jwt: String?
        var seed: String?
        var bareJWT: String?
        var bareSeed: String?

        // Split on LF, CRLF (one Character in Swift) or CR; whitespace is trimmed from every line.
        let lines = contents.split(omittingEmptySubsequences: false, whereSeparator: {
            $0 == "\n" || $0 == "\r\n" || $0 == "\r"
        }).map {
            $0.trimmingASCIIWhitespace
        }
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            if let label = Credentials.markerLabel(line) {
                guard label.uppercased().contains("BEGIN") else { continue }
                var body = ""
                var closed = false
                while index < lines.count {
                    let inner = lines[index]
                    index += 1
                    if Credentials.markerLabel(inner) != nil {
                        closed = true
                        break
                    }
                    body += inner
                }
                let upper = label.uppercased()
                let isJWT = upper.contains("JWT") || (!upper.contains("SEED") && body.contains("."))
                let what = isJWT ? "JWT" : "NKey seed"
                guard closed else {
                    throw .invalidCredentials("the \(what) block in the credentials has no END marker line")
                }
                if isJWT {
                    if jwt == nil { jwt = body }
                } else if seed == nil {
                    seed = body
                }
            } else if !line.isEmpty {
                if bareJWT == nil, Credentials.looksLikeJWT(line) {
                    bareJWT = String(line)
                } else if bareSeed == nil, line.hasPrefix("SU") || line.hasPrefix("SA") || line.hasPrefix("SO") {
                    bareSeed = String(line)
                }
            }
        }
        guard let jwtText = jwt ?? bareJWT, !jwtText.isEmpty else {
            throw .invalidCredentials(
                "the credentials contain no user JWT; expected a '-----BEGIN NATS USER JWT-----' block")
        }
        guard let seedText = seed ?? bareSeed, !seedText.isEmpty else {
            throw .invalidCredentials(
                "the credentials contain no NKey seed; expected a '-----BEGIN USER NKEY SEED-----' block")
        }
        do {
            _ = try JWTClaims(jwt: jwtText)
        } catch {
            throw .invalidCredentials("the JWT in the credentials is malformed: \(error.detail)")
        }
        do {
            self.keyPair = try NKeyPair(seed: seedText)
        } catch {
            throw .invalidSeed(error)
        }
        self.jwt = jwtText
    }

    /// JWT authentication with these credentials: the JWT, signed by the key.
    public var auth: Auth { .jwt(jwt, keyPair: keyPair) }

    /// Reads and parses a `.creds` file.
    ///
    /// - Throws: `AuthError.fileUnreadable(path)` when the file cannot be read, else as
    ///   `init(contents:)`.
    public static func load(path: String) throws(AuthError) -> Credentials {
        var data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .fileUnreadable(path, underlying: error)
        }
        defer { data.resetBytes(in: 0..<data.count) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidCredentials("the credentials file at \(path) is not UTF-8 text")
        }
        return try Credentials(contents: text)
    }

    /// The text of a `.creds` file for this JWT and key, in the layout `nsc` writes.
    /// The result contains the seed: treat it as a secret.
    public func fileContents() -> String {
        Credentials.fileContents(jwt: jwt, seed: keyPair.revealSeed())
    }

    /// The text of a `.creds` file for `jwt` and `seed`, in the layout `nsc` writes.
    public static func fileContents(jwt: String, seed: String) -> String {
        """
        -----BEGIN NATS USER JWT-----
        \(jwt)
        ------END NATS USER JWT------

        ************************* IMPORTANT *************************
        NKEY Seed printed below can be used to sign and prove identity.
        NKEYs are sensitive and should be treated as secrets.

        -----BEGIN USER NKEY SEED-----
        \(seed)
        ------END USER NKEY SEED------

        *************************************************************

        """
    }

    /// The JWT's subject and the key's public key.
    public var description: String {
        let subject = (try? JWTClaims(jwt: jwt))?.subject ?? "?"
        return "Credentials(jwt: <redacted, sub \(subject)>, key: \(keyPair.publicKey))"
    }
    /// Same as `description`.
    public var debugDescription: String { description }
    /// The JWT's subject and the public key, so `dump` does not print the JWT.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": description], displayStyle: .struct)
    }

    /// The label between dashes of a marker line (`---...LABEL...---`), or `nil`.
    private static func markerLabel(_ line: Substring) -> Substring? {
        guard line.hasPrefix("---"), line.hasSuffix("---"), line.count >= 6 else { return nil }
        let inner = line.drop { $0 == "-" }
        guard let lastNonDash = inner.lastIndex(where: { $0 != "-" }) else { return nil }
        return inner[...lastNonDash]
    }

    /// Three dot-separated base64url parts, the first a JSON object (`ey...`).
    private static func looksLikeJWT(_ line: Substring) -> Bool {
        let parts = line.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, line.hasPrefix("ey") else { return false }
        return parts.allSatisfy { part in
            part.unicodeScalars.allSatisfy { c in
                (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "-" || c == "_"
            }
        }
    }
}
