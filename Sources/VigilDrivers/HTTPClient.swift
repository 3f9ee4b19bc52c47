import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore

/// One HTTP exchange for health probes and webhooks (URLSession, its own threads; nothing blocks the Swift pool).
/// The deadline is enforced twice: URLSession's own timeout and a race against `clock`, so a server that accepts
/// the connection and never answers costs `timeoutMs`, nothing more.
enum HTTPExchange {
    enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case timeout(Int64)
        case transport(String)
        var description: String {
            switch self {
            case .timeout(let ms): return "no answer within \(ms) ms"
            case .transport(let s): return s
            }
        }
    }

    struct Response: Sendable {
        var status: Int
        var body: Data
    }

    static let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.httpMaximumConnectionsPerHost = 16
        c.requestCachePolicy = .reloadIgnoringLocalCacheData
        c.urlCache = nil
        return URLSession(configuration: c)
    }()

    static func send(method: String, url: String, headers: [String: String] = [:], body: Data? = nil,
                     timeoutMs: Int64, clock: any VigilClock) async -> Result<Response, Failure> {
        guard let u = URL(string: url) else { return .failure(.transport("bad URL \"\(url)\"")) }
        var req = URLRequest(url: u)
        req.httpMethod = method
        req.httpBody = body
        req.timeoutInterval = Double(timeoutMs) / 1000
        for (k, v) in headers { req.setValue(v, forHTTPHeaderField: k) }
        let box = TaskBox()
        let request = req
        return await withTaskGroup(of: Result<Response, Failure>?.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Result<Response, Failure>?, Never>) in
                    let task = session.dataTask(with: request) { data, response, error in
                        if let error {
                            let ns = error as NSError
                            if ns.code == NSURLErrorTimedOut { c.resume(returning: .failure(.timeout(timeoutMs))); return }
                            c.resume(returning: .failure(.transport(error.localizedDescription)))
                            return
                        }
                        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                        c.resume(returning: .success(Response(status: status, body: data ?? Data())))
                    }
                    box.set(task)
                    task.resume()
                }
            }
            group.addTask {
                do { try await clock.sleep(millis: timeoutMs + 50) } catch { return nil }
                return .failure(.timeout(timeoutMs))
            }
            var out: Result<Response, Failure> = .failure(.timeout(timeoutMs))
            for await r in group {
                if let r { out = r; break }
            }
            box.cancel()  // the dataTask's completion then runs with NSURLErrorCancelled and resumes its continuation
            group.cancelAll()
            return out
        }
    }

    private final class TaskBox: @unchecked Sendable {
        private let lock = NSLock()
        private var task: URLSessionDataTask?
        func set(_ t: URLSessionDataTask) { lock.withLock { task = t } }
        func cancel() { lock.withLock { task }?.cancel() }
    }
}
