import Foundation
import NATSTestSupport
import NATSTransport
import NIOCore
import Synchronization
import Testing

@Suite(.enabled(if: NATSServer.isAvailable, "needs nats-server"), .timeLimit(.minutes(1)))
struct HarnessTests {
    private func dial(_ port: Int) async throws -> TCPStream {
        try await TCPDialer().connect(ServerAddress(host: "127.0.0.1", port: port), timeout: .seconds(5))
    }

    /// Whether a process with this id exists (a zombie counts as existing).
    private func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    @Test func startsAndSendsInfo() async throws {
        try await withNATSServer { server in
            #expect(server.clientURL == "nats://127.0.0.1:\(server.port)")
            #expect(server.websocketURL == nil)
            let stream = try await dial(server.port)
            let info = try await readUntil(stream, contains: "\r\n")
            #expect(info.hasPrefix("INFO "))
            #expect(info.contains("\"server_id\""))
            #expect(info.contains("\"server_name\":\"\(server.serverName)\""))
            await stream.close()
            #expect(server.log.contains("Server is ready"))
        }
    }

    @Test func appliesCallerConfig() async throws {
        try await withNATSServer(config: "authorization { user: a, password: b }") { server in
            let stream = try await dial(server.port)
            let info = try await readUntil(stream, contains: "\r\n")
            #expect(info.contains("\"auth_required\":true"))
            await stream.close()
        }
    }

    @Test func websocketListener() async throws {
        try await withNATSServer(websocket: true) { server in
            let url = try #require(server.websocketURL)
            let port = try #require(server.websocketPort)
            #expect(url == "ws://127.0.0.1:\(port)")
            let stream = try await dial(port)
            // A request without the upgrade headers gets an HTTP error: the listener is live.
            try await stream.write(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
            let response = try await readUntil(stream, contains: "\r\n")
            #expect(response.hasPrefix("HTTP/1.1 "))
            await stream.close()
        }
    }

    @Test func restartsOnTheSamePort() async throws {
        try await withNATSServer { server in
            let port = server.port
            let firstPID = try #require(server.pid)
            try await server.restart()
            #expect(server.port == port)
            let secondPID = try #require(server.pid)
            #expect(secondPID != firstPID)
            #expect(!processExists(firstPID))
            let stream = try await dial(port)
            let info = try await readUntil(stream, contains: "\r\n")
            #expect(info.hasPrefix("INFO "))
            await stream.close()
        }
    }

    @Test func clusterOfThreeFormsAFullMesh() async throws {
        try await withNATSCluster(size: 3) { cluster in
            #expect(cluster.servers.count == 3)
            #expect(Set(cluster.clientURLs).count == 3)
            #expect(try await cluster.isFullMesh())
            let routez = try await cluster.servers[0].monitor("/routez")
            for other in cluster.servers.dropFirst() {
                #expect(routez.contains(other.serverName))
            }
        }
    }

    @Test func lameDuckModeSendsLDMInfo() async throws {
        try await withNATSServer { server in
            let stream = try await dial(server.port)
            _ = try await readUntil(stream, contains: "\r\n")
            // Async INFO updates go only to clients that announce protocol 1.
            try await stream.write(ByteBuffer(string: "CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n"))
            _ = try await readUntil(stream, contains: "PONG\r\n")
            try server.enterLameDuckMode()
            let text = try await readUntil(stream, contains: "\"ldm\":true", timeout: .seconds(10))
            #expect(text.contains("INFO "))
            await stream.close()
        }
    }

    @Test func stopKillsTheProcess() async throws {
        let server = try await NATSServer.start()
        let pid = try #require(server.pid)
        #expect(processExists(pid))
        await server.stop()
        #expect(!processExists(pid))
        #expect(server.pid == nil)
        #expect(!server.isRunning)
        await #expect(throws: TransportError.connectionRefused) {
            _ = try await TCPDialer().dial(ServerAddress(host: "127.0.0.1", port: server.port), timeout: .seconds(2))
        }
        await server.stop()  // idempotent
    }

    @Test func scopedHelperStopsTheServerWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let pids = PIDBox()
        await #expect(throws: Boom.self) {
            try await withNATSServer { server in
                pids.pid.withLock { $0 = server.pid }
                throw Boom()
            }
        }
        let pid = try #require(pids.pid.withLock { $0 })
        #expect(!processExists(pid))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"), "needs the openssl tool"))
    func tlsOnTheClientPort() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("harness-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let files = NATSServer.Options.TLSFiles(certFile: directory + "/cert.pem", keyFile: directory + "/key.pem")

        try await withNATSServer(NATSServer.Options(tls: files)) { server in
            let stream = try await dial(server.port)
            let info = try await readUntil(stream, contains: "\r\n")
            #expect(info.contains("\"tls_required\":true"))
            await stream.close()
        }
        // TLS first: no plaintext INFO, yet the harness sees the server ready.
        try await withNATSServer(NATSServer.Options(tls: files, tlsHandshakeFirst: true)) { server in
            #expect(server.isRunning)
            #expect(server.log.contains("Server is ready"))
        }
    }

    @Test func failedStartReportsTheLog() async throws {
        let error = await #expect(throws: NATSServerError.self) {
            _ = try await NATSServer.start(config: "this is { not valid")
        }
        #expect(error?.log.isEmpty == false)
    }
}

/// Carries a pid out of a closure in a test.
private final class PIDBox: Sendable {
    let pid = Mutex<Int32?>(nil)
}
