import ArgumentParser
import Foundation
import NATSClient

/// `nats-swift`: check, use and benchmark a NATS server through every transport and auth
/// method of the swift-nats client.
struct NATSSwift: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats-swift",
        abstract: "A NATS command-line tool on the swift-nats client.",
        discussion: """
            Every failure prints one line 'error: <kind>: <message>' on stderr and exits 1 \
            (usage errors exit 2). Kinds: authorization-violation, authentication, tls, \
            secure-connection-required, timeout, connection, protocol, max-payload, \
            invalid-subject, no-responders, permissions-violation, config.
            """,
        version: "0.1.0",
        subcommands: [
            Check.self, Pub.self, Sub.self, Req.self, Reply.self, Info.self, Bench.self,
            NKeyCommand.self, CredsCommand.self, JWTCommand.self,
        ]
    )
}

/// The entry point: parses, runs, and turns every error into one `error: kind: message` line.
@main
enum Entry {
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try NATSSwift.parseAsRoot()
        } catch {
            let code = NATSSwift.exitCode(for: error)
            if code == .success {
                print(NATSSwift.fullMessage(for: error))
                exit(0)
            }
            let message = NATSSwift.message(for: error).split(separator: "\n").joined(separator: "; ")
            standardError("error: config: \(message) (see 'nats-swift help')")
            exit(2)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            // A command with subcommands run on its own asks for its help screen.
            if NATSSwift.exitCode(for: error) == .success {
                print(NATSSwift.fullMessage(for: error))
                exit(0)
            }
            let failure = CLIFailure(error)
            standardError("error: \(failure.kind): \(failure.message)")
            exit(failure.isUsage ? 2 : 1)
        }
    }
}

/// Writes one line to stderr.
func standardError(_ line: String) {
    try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
}

/// A failure as the user sees it: a kind from the fixed list and a one-line message.
struct CLIFailure: Error, CustomStringConvertible {
    var kind: String
    var message: String
    var isUsage = false

    init(_ kind: String, _ message: String, usage: Bool = false) {
        self.kind = kind
        self.message = message
        self.isUsage = usage
    }

    /// Maps any error to the kinds of the tool.
    init(_ error: any Error) {
        switch error {
        case let failure as CLIFailure:
            self = failure
        case let error as NATSError:
            self.init(Self.kind(of: error), error.message)
        case let error as AuthError:
            self.init(error.code == .fileUnreadable ? "config" : "authentication", error.detail)
        case let error as NKeyError:
            self.init("authentication", "\(error)")
        case let error as TLSError:
            self.init("tls", "\(error)")
        case let error as ValidationError:
            self.init("config", error.message, usage: true)
        default:
            self.init("config", "\(error)")
        }
        message = message.split(whereSeparator: \.isNewline).joined(separator: "; ")
    }

    /// The tool's kind for a client error (a few client kinds fold into the listed ones).
    static func kind(of error: NATSError) -> String {
        switch error.kind {
        case .invalidHeaders: return "config"
        case .connectionClosed, .reconnectBufferExceeded, .cancelled: return "connection"
        case .serverError: return "protocol"
        default: return error.kind.description
        }
    }

    var description: String { "\(kind): \(message)" }
}

/// Runs `body`, failing with kind `timeout` after `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw CLIFailure("timeout", "\(what) did not happen within \(formatSeconds(seconds)) s (raise --timeout)")
        }
        return value
    }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? String(Int(s)) : String(s)
}

extension Duration {
    /// The duration in microseconds.
    var microseconds: Int64 {
        let (s, attos) = components
        return s * 1_000_000 + attos / 1_000_000_000_000
    }

    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
