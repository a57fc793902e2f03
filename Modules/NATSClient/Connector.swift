import Foundation
import Logging
import NATSAuth
import NATSTLS
import NATSTransport
import NATSWire
import NIOCore
import Synchronization

/// A transport after a successful handshake.
struct Established: Sendable {
    let stream: any ByteStream
    let info: ServerInfo
    /// The negotiated TLS state, when TLS is in use (NATS-level or `wss://`).
    let tls: TLSConnectionInfo?
    /// The parser, with any bytes that arrived after the handshake's PONG.
    let parser: ServerOpParser
}

/// Dials, secures, authenticates: runs the ``HandshakeStateMachine`` against a transport.
struct Connector: Sendable {
    func usesTLS(_ options: ConnectOptions) -> Bool {
        options.tls.isRequired
    }

    /// One connection attempt to `url`, bounded by the options' connection timeout.
    func establish(_ url: ServerURL, verifyHost: String, options: ConnectOptions, logger: Logger) async throws(NATSError) -> Established {
        let guardian = StreamGuardian()
        let timeout = options.connectionTimeout
        let timer = Task {
            do { try await Task.sleep(for: timeout) } catch { return }
            await guardian.expire()
        }
        defer { timer.cancel() }
        do {
            return try await handshake(url, verifyHost: verifyHost, options: options, logger: logger, guardian: guardian)
        } catch {
            await guardian.closeCurrent()
            if guardian.expired {
                throw NATSError(.timeout, "no complete handshake with \(url) within \(timeout) (connectionTimeout)", underlying: error)
            }
            throw error
        }
    }

    private func handshake(_ url: ServerURL, verifyHost: String, options: ConnectOptions, logger: Logger, guardian: StreamGuardian) async throws(NATSError) -> Established {
        var stream: any ByteStream
        var tlsStream: TLSStream?
        do {
            stream = try await options.dialer.dial(url.address, timeout: options.connectionTimeout)
        } catch let error as TransportError {
            throw NATSError(.connection, "cannot connect to \(url): \(error)", underlying: error)
        } catch {
            throw NATSError(.connection, "cannot connect to \(url): \(error)", underlying: error)
        }
        try guardian.track(stream)

        var requirements = HandshakeStateMachine.Requirements()
        requirements.tlsRequiredByOptions = options.tls.isRequired
        requirements.tlsRequiredByURL = url.requiresTLS
        requirements.webSocket = url.isWebSocket
        requirements.tlsFirst = options.tls.handshakeFirst && !url.isWebSocket

        if url.isWebSocket {
            if url.requiresTLS {
                let secured = try await TransportUpgrades.tls(over: stream, url: url, verifyHost: verifyHost, options: options)
                tlsStream = secured
                stream = secured
                try guardian.track(stream)
            }
            stream = try await TransportUpgrades.webSocket(over: stream, url: url, verifyHost: verifyHost, options: options)
            try guardian.track(stream)
        } else if requirements.tlsFirst {
            let secured = try await TransportUpgrades.tls(over: stream, url: url, verifyHost: verifyHost, options: options)
            tlsStream = secured
            stream = secured
            try guardian.track(stream)
        }

        var machine = HandshakeStateMachine(requirements: requirements)
        var parser = ServerOpParser()
        var connect = ConnectInfo()
        while true {
            let op = try await Self.readOp(stream, &parser)
            var action: HandshakeStateMachine.Action
            switch op {
            case .info(let info): action = machine.infoReceived(info)
            case .ping: action = machine.pingReceived()
            case .pong: action = machine.pongReceived()
            case .ok: action = .wait
            case .err(let e): action = machine.errReceived(e)
            case .msg: action = machine.messageReceived()
            }
            // Run actions until the machine waits for the network.
            while true {
                switch action {
                case .wait:
                    break
                case .sendPong:
                    var b = ByteBuffer()
                    ClientOpEncoder.writePong(to: &b)
                    try await Self.write(stream, b)
                    action = .wait
                    continue
                case .upgradeToTLS:
                    guard parser.bufferedBytes == 0 else {
                        throw NATSError(.protocol, "the server sent data before the TLS handshake")
                    }
                    let secured = try await TransportUpgrades.tls(over: stream, url: url, verifyHost: verifyHost, options: options)
                    tlsStream = secured
                    stream = secured
                    try guardian.track(stream)
                    action = machine.tlsEstablished()
                    continue
                case .authenticate(let info):
                    connect = try await ConnectBuilder.build(info: info, url: url, options: options, tlsInUse: tlsStream != nil && !url.isWebSocket)
                    action = machine.connectReady()
                    continue
                case .sendConnectAndPing:
                    var b = ByteBuffer()
                    ClientOpEncoder.writeConnect(connect, to: &b)
                    ClientOpEncoder.writePing(to: &b)
                    try await Self.write(stream, b)
                    action = .wait
                    continue
                case .connected(let info):
                    try guardian.release()
                    return Established(stream: stream, info: info, tls: tlsStream?.connectionInfo, parser: parser)
                case .fail(let failure):
                    switch failure {
                    case .secureConnectionRequired:
                        if url.isWebSocket {
                            throw NATSError(.secureConnectionRequired, "TLS is required by the options but \(url) is plain WebSocket; use a wss:// URL. Nothing was sent")
                        }
                        throw NATSError(.secureConnectionRequired, "TLS is required (by the options or the URL \(url)) but the server does not offer it; nothing was sent")
                    case .server(let e):
                        throw Self.explain(NATSError.from(server: e), jwt: connect.jwt)
                    case .unexpected(let what):
                        throw NATSError(.protocol, "unexpected during the handshake: \(what)")
                    }
                }
                break
            }
        }
    }

    /// When the server rejects a JWT whose claims show it expired, say so and when.
    static func explain(_ error: NATSError, jwt: String?) -> NATSError {
        guard error.kind == .authorizationViolation, let jwt, let claims = try? JWTClaims(jwt: jwt),
              let expiry = claims.expiresAt, expiry <= Date() else { return error }
        return NATSError(.authorizationViolation, error.message + "; the user JWT expired at \(expiry)", serverError: error.serverError)
    }

    static func readOp(_ stream: any ByteStream, _ parser: inout ServerOpParser) async throws(NATSError) -> ServerOp {
        while true {
            do {
                if let op = try parser.next() { return op }
            } catch {
                throw NATSError(.protocol, error.description, underlying: error)
            }
            let chunk: ByteBuffer?
            do {
                chunk = try await stream.read()
            } catch let e as NATSError {
                throw e
            } catch let e as TLSError {
                throw NATSError(.tls, "TLS failed during the handshake: \(e)", underlying: e)
            } catch {
                throw NATSError(.connection, "read failed during the handshake: \(error)", underlying: error)
            }
            guard let chunk else {
                throw NATSError(.connection, "the server closed the connection during the handshake")
            }
            parser.append(chunk)
        }
    }

    static func write(_ stream: any ByteStream, _ bytes: ByteBuffer) async throws(NATSError) {
        do {
            try await stream.write(bytes)
        } catch let e as TLSError {
            // In TLS 1.3 a server that rejects our certificate closes after the handshake; its
            // alert, the real reason, is waiting to be read.
            do {
                _ = try await stream.read()
            } catch let alert as TLSError {
                throw NATSError(.tls, "the server ended the TLS session: \(alert)", underlying: alert)
            } catch {}
            throw NATSError(.tls, "TLS failed during the handshake: \(e)", underlying: e)
        } catch {
            throw NATSError(.connection, "write failed during the handshake: \(error)", underlying: error)
        }
    }
}

/// Closes the handshake's current stream when the connection timeout expires, which makes a
/// pending read return; then the error is reported as a timeout.
final class StreamGuardian: Sendable {
    private struct State {
        var stream: (any ByteStream)?
        var expired = false
        var released = false
    }
    private let state = Mutex(State())

    var expired: Bool { state.withLock { $0.expired } }

    func track(_ stream: any ByteStream) throws(NATSError) {
        let expired = state.withLock { s in
            s.stream = stream
            return s.expired
        }
        if expired { throw NATSError(.timeout, "the handshake timed out") }
    }

    func release() throws(NATSError) {
        let expired = state.withLock { s in
            if !s.expired { s.released = true; s.stream = nil }
            return s.expired
        }
        if expired { throw NATSError(.timeout, "the handshake timed out") }
    }

    func expire() async {
        let stream = state.withLock { s -> (any ByteStream)? in
            guard !s.released else { return nil }
            s.expired = true
            return s.stream
        }
        await stream?.close()
    }

    func closeCurrent() async {
        let stream = state.withLock { s -> (any ByteStream)? in
            let st = s.stream
            s.stream = nil
            return st
        }
        await stream?.close()
    }
}
