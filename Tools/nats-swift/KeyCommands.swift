import ArgumentParser
import Foundation
import NATSClient

// MARK: - nkey

struct NKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nkey",
        abstract: "Generate NKeys, show a seed's public key, sign and verify.",
        subcommands: [Gen.self, Public.self, Sign.self, Verify.self]
    )

    struct Gen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a key pair: writes the seed (to --out, mode 0600, or stdout) and prints the public key."
        )
        @Option(help: "operator, account, user, server, cluster or curve.") var type: String = "user"
        @Option(help: ArgumentHelp("Write the seed to this file (mode 0600) instead of stdout.", valueName: "file")) var out: String?

        func validate() throws {
            guard NKeyType.allCases.contains(where: { $0.description == type }) else {
                throw ValidationError("--type must be one of \(NKeyType.allCases.map(\.description).joined(separator: ", ")), not '\(type)'")
            }
        }

        func run() async throws {
            guard let keyType = NKeyType.allCases.first(where: { $0.description == type }) else { return }
            let pair = NKeyPair.generate(keyType)
            if let out {
                guard FileManager.default.createFile(atPath: out, contents: Data((pair.revealSeed() + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw CLIFailure("config", "--out \(out): the file cannot be written")
                }
                print(pair.publicKey)
            } else {
                print(pair.revealSeed())
                print(pair.publicKey)
            }
        }
    }

    struct Public: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pub", abstract: "Print the public key of a seed file.")
        @Argument(help: "The seed file.") var seedFile: String

        func run() async throws {
            let pair = try NKeyPair(seed: readSeed(seedFile, flag: "SEED-FILE"))
            print(pair.publicKey)
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign data with a seed; prints the base64url signature.")
        @Option(help: ArgumentHelp("The seed file.", valueName: "file")) var seed: String
        @Argument(help: "The data to sign (or --file).") var data: String?
        @Option(help: ArgumentHelp("Sign this file's bytes.", valueName: "file")) var file: String?

        func validate() throws {
            if (data == nil) == (file == nil) { throw ValidationError("give DATA or --file") }
        }

        func run() async throws {
            let pair = try NKeyPair(seed: readSeed(seed, flag: "--seed"))
            let bytes = try file.map { Array(try readFile($0, flag: "--file").utf8) } ?? Array((data ?? "").utf8)
            print(Base64URL.encode(try pair.sign(bytes)))
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a signature against a public key; exits 0 and prints 'valid' when it holds.")
        @Option(help: ArgumentHelp("The public key (U..., A..., O..., N..., C...).", valueName: "key")) var key: String
        @Option(parsing: .unconditional, help: ArgumentHelp("The signature, base64url (or standard base64); may start with '-'.", valueName: "sig")) var sig: String
        @Argument(help: "The data that was signed (or --file).") var data: String?
        @Option(help: ArgumentHelp("Verify this file's bytes.", valueName: "file")) var file: String?

        func validate() throws {
            if (data == nil) == (file == nil) { throw ValidationError("give DATA or --file") }
        }

        func run() async throws {
            let bytes = try file.map { Array(try readFile($0, flag: "--file").utf8) } ?? Array((data ?? "").utf8)
            let normalized = sig.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .trimmingCharacters(in: CharacterSet(charactersIn: "= \n"))
            guard let signature = Base64URL.decode(normalized) else {
                throw CLIFailure("config", "--sig is not base64url")
            }
            let valid: Bool
            do {
                valid = try NKeyPair.verify(publicKey: key, message: bytes, signature: signature)
            } catch {
                throw CLIFailure("config", "--key is not a public NKey: \(error)")
            }
            guard valid else { throw CLIFailure("authentication", "the signature does not verify for \(key)") }
            print("valid")
        }
    }
}

// MARK: - creds

struct CredsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "creds",
        abstract: "Check a credentials file: its JWT claims and expiry (never the seed)."
    )

    @Argument(help: "The .creds file (default $NATS_CREDS).") var file: String?

    func run() async throws {
        guard let path = file ?? ProcessInfo.processInfo.environment["NATS_CREDS"] else {
            throw CLIFailure("config", "give a credentials file or set $NATS_CREDS", usage: true)
        }
        try requireReadable(path, flag: "FILE")
        let credentials = try Credentials.load(path: path)
        let claims = try JWTClaims(jwt: credentials.jwt)
        let formatter = ISO8601DateFormatter()
        var rows: [(String, String)] = [
            ("file", path),
            ("type", claims.type ?? "?"),
            ("name", claims.name ?? "?"),
            ("subject", claims.subject ?? "?"),
            ("issuer", claims.issuer ?? "?"),
        ]
        if let account = claims.nats?["issuer_account"]?.stringValue { rows.append(("issuer_account", account)) }
        rows.append(("issued_at", claims.issuedAtDate.map(formatter.string) ?? "?"))
        let now = Date()
        if let expires = claims.expiresAt {
            let left = expires.timeIntervalSince(now)
            rows.append(("expires", formatter.string(from: expires) + (left > 0 ? " (in \(Self.span(left)))" : " (EXPIRED)")))
        } else {
            rows.append(("expires", "never"))
        }
        rows.append(("signature", claims.isSignatureValid ? "valid (signed by the issuer)" : "INVALID"))
        let matches = credentials.keyPair.publicKey == claims.subject
        rows.append(("seed", matches ? "present, matches the subject" : "present, DOES NOT match the subject"))
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }

        if claims.type != "user" {
            throw CLIFailure("authentication", "the JWT in \(path) is a \(claims.type ?? "untyped") JWT, not a user JWT")
        }
        if claims.isExpired(at: now) {
            throw CLIFailure("authentication", "the JWT in \(path) expired at \(claims.expiresAt.map(formatter.string) ?? "?"); issue new credentials")
        }
        if !claims.isSignatureValid {
            throw CLIFailure("authentication", "the JWT's signature in \(path) does not verify; the file is damaged")
        }
        if !matches {
            throw CLIFailure("authentication", "the seed in \(path) is not the key of the JWT's subject; the server would reject it")
        }
    }

    static func span(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s >= 86_400 { return "\(s / 86_400)d \(s % 86_400 / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h \(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m \(s % 60)s" }
        return "\(s)s"
    }
}

// MARK: - jwt

struct JWTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jwt",
        abstract: "Issue an operator, account or user JWT (for test and demo setups without nsc).",
        discussion: "Operator JWTs are self-signed (--signer is the operator's own seed); account JWTs are signed by an operator seed, user JWTs by an account seed."
    )

    @Option(help: "operator, account or user.") var type: String
    @Option(help: ArgumentHelp("The public key the JWT describes (O..., A... or U...).", valueName: "key")) var subject: String
    @Option(help: ArgumentHelp("The seed file of the signer.", valueName: "file")) var signer: String
    @Option(help: "The name claim.") var name: String?
    @Option(help: ArgumentHelp("Expire after this many seconds.", valueName: "seconds")) var expiresIn: Int?

    func run() async throws {
        let claimType: JWTClaimType
        switch type {
        case "operator": claimType = .operator
        case "account": claimType = .account
        case "user": claimType = .user
        default: throw CLIFailure("config", "--type must be operator, account or user, not '\(type)'", usage: true)
        }
        let key = try NKeyPair(seed: readSeed(signer, flag: "--signer"))
        let jwt = try JWTIssuer.issue(
            claimType, subject: subject, name: name, signer: key,
            expires: expiresIn.map { Date().addingTimeInterval(TimeInterval($0)) }
        )
        print(jwt)
    }
}
