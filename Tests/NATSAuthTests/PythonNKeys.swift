import Foundation
import Testing

/// Runs a Python 3 snippet with the PyPI `nkeys` package (installed by Tools/setup-env.sh)
/// and returns its trimmed standard output. Inputs go through arguments, never the script.
enum PythonNKeys {
    struct Failure: Error, CustomStringConvertible {
        let status: Int32
        let stderr: String
        var description: String { "python3 exited with \(status): \(stderr)" }
    }

    /// Runs on a thread of its own: waiting for a process blocks, and a blocked cooperative
    /// thread would starve the other tests on a 2-core machine.
    static func run(_ script: String, _ arguments: [String] = []) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runBlocking(script, arguments) })
            }.start()
        }
    }

    private static func runBlocking(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read to end before waiting, so a full pipe cannot block the child.
        // Not readDataToEndOfFile(): it traps when a signal (SIGCHLD) interrupts the read.
        let outData = readAll(out.fileHandleForReading)
        let errData = readAll(err.fileHandleForReading)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(status: process.terminationStatus, stderr: String(decoding: errData, as: UTF8.self))
        }
        return String(decoding: outData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Reads to the end, retrying reads that a signal interrupted.
private func readAll(_ handle: FileHandle) -> Data {
    var data = Data()
    var failures = 0
    while true {
        do {
            guard let chunk = try handle.read(upToCount: 64 * 1024), !chunk.isEmpty else { return data }
            data.append(chunk)
        } catch {
            failures += 1
            if failures > 1000 { return data }
        }
    }
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
