import Foundation
import Testing
@testable import NATSAuth

@Suite struct CredentialsTests {
    static let seed = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM"
    static let publicKey = "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE"
    static let jwt: String = {
        let account = NKeyPair.generate(.account)
        return (try? JWTIssuer.issue(.user, subject: publicKey, name: "creds", signer: account)) ?? ""
    }()

    static var standard: String { Credentials.fileContents(jwt: jwt, seed: seed) }

    static let tolerated: [(String, String)] = [
        ("standard nsc layout", standard),
        ("CRLF line ends", standard.replacingOccurrences(of: "\n", with: "\r\n")),
        ("no final newline", standard.trimmingCharacters(in: .newlines)),
        ("surrounding whitespace", "\n\n   \t" + standard.replacingOccurrences(of: "\n", with: "  \n  ") + "\n\n  "),
        ("blank lines inside blocks", """
            -----BEGIN NATS USER JWT-----

            \(jwt)

            ------END NATS USER JWT------
            -----BEGIN USER NKEY SEED-----

            \(seed)
            ------END USER NKEY SEED------
            """),
        ("three dashes", "---BEGIN NATS USER JWT---\n\(jwt)\n---END NATS USER JWT---\n---BEGIN USER NKEY SEED---\n\(seed)\n---END USER NKEY SEED---"),
        ("many dashes", "----------BEGIN NATS USER JWT----------\n\(jwt)\n-------END NATS USER JWT---\n---BEGIN USER NKEY SEED---------\n\(seed)\n----END USER NKEY SEED----"),
        ("JWT wrapped over lines", "-----BEGIN NATS USER JWT-----\n\(jwt.prefix(40))\n\(jwt.dropFirst(40))\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n\(seed)\n------END USER NKEY SEED------"),
        ("bare JWT and bare seed lines", "\(jwt)\n\(seed)\n"),
        ("JWT block and bare seed line", "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n\nSome text\n  \(seed)  \n"),
        ("seed block first", "-----BEGIN USER NKEY SEED-----\n\(seed)\n------END USER NKEY SEED------\n-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n"),
    ]

    @Test(arguments: tolerated)
    func parsesTolerantly(name: String, text: String) throws {
        let creds = try Credentials(contents: text)
        #expect(creds.jwt == Self.jwt, "\(name)")
        #expect(creds.keyPair.publicKey == Self.publicKey, "\(name)")
    }

    static let failures: [(String, String, AuthError.Code, String)] = [
        ("empty", "", .invalidCredentials, "no user JWT"),
        ("seed only", "-----BEGIN USER NKEY SEED-----\n\(seed)\n------END USER NKEY SEED------\n", .invalidCredentials, "no user JWT"),
        ("JWT only", "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n", .invalidCredentials, "no NKey seed"),
        ("unterminated seed block", "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n\(seed)\n", .invalidCredentials, "no END marker"),
        ("bad JWT", "-----BEGIN NATS USER JWT-----\nnot.a.jwt\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n\(seed)\n------END USER NKEY SEED------\n", .invalidCredentials, "JWT in the credentials is malformed"),
        ("bad seed checksum", "-----BEGIN NATS USER JWT-----\n\(jwt)\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n\(seed.dropLast())A\n------END USER NKEY SEED------\n", .invalidSeed, "checksum"),
    ]

    @Test(arguments: failures)
    func failuresNameTheMissingPart(name: String, text: String, code: AuthError.Code, mentions: String) {
        do {
            _ = try Credentials(contents: text)
            Issue.record("\(name) parsed")
        } catch {
            #expect(error.code == code, "\(name)")
            #expect("\(error)".contains(mentions), "\(name): \(error)")
            #expect(!"\(error)".contains(String(Self.seed.prefix(20))))
            #expect(!String(reflecting: error).contains(String(Self.seed.prefix(20))))
            #expect(!"\(error)".contains(Self.jwt))
        }
    }

    @Test func renderRoundTripsAndDescriptionRedacts() throws {
        let creds = try Credentials(contents: Self.standard)
        #expect(creds.fileContents() == Self.standard)
        #expect(try Credentials(contents: creds.fileContents()).jwt == Self.jwt)
        for text in ["\(creds)", String(reflecting: creds)] {
            #expect(!text.contains(Self.seed))
            #expect(!text.contains(Self.jwt))
            #expect(text.contains(Self.publicKey))
        }
    }

    @Test func loadFromFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("natsauth-\(UUID().uuidString).creds").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.standard.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Credentials.load(path: path).keyPair.publicKey == Self.publicKey)
        let missing = path + ".missing"
        do {
            _ = try Credentials.load(path: missing)
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.code == .fileUnreadable)
            #expect("\(error)".contains(missing))
        }
    }
}
