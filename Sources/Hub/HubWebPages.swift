import ConstruirSystem
import Foundation
import HTTPTypes
import HubAPI
import HubOpenAPI
import HubStore
import Hummingbird
import JobModel
import Mustache
import NIOCore
import OpenAPIRuntime

/// The hub's pages for people: the job list, a job's page (status, stages, replicas, the
/// console, which a running job's page follows by reloading, the output's files), login and
/// logout, and the stop button. They read through the same operations as the API, as the
/// logged-in submitter (or anyone, with `--results public`), so they show exactly what the API
/// would. Forms that change something carry the session's CSRF token, and the session cookie is
/// HttpOnly and SameSite=Strict (and Secure under TLS). Files are downloads, never shown inline.
struct HubWebPages: Sendable {
    let operations: HubOperations
    let sessions: HubWebSessions
    let authenticator: HubAuthenticator
    let secureCookies: Bool
    let library: MustacheLibrary

    /// Who is looking: the session's token, if the cookie names a live session of a live
    /// submitter token.
    struct Visitor {
        var token: HubToken?
        var session: String?
        var csrf: String?
    }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/jobs") { request, _ in try await list(request) }
        router.get("/jobs/{id}") { request, context in try await job(request, id: try context.parameters.require("id")) }
        router.get("/jobs/{id}/output") { request, context in try await download(request, id: try context.parameters.require("id"), path: nil) }
        router.get("/jobs/{id}/file/**") { request, context in
            try await download(request, id: try context.parameters.require("id"), path: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.post("/jobs/{id}/stop") { request, context in try await stop(request, id: try context.parameters.require("id")) }
        router.get("/login") { request, _ in page("login", ["title": "Log in"], visitor(request)) }
        router.post("/login") { request, _ in try await login(request) }
        router.post("/logout") { request, _ in try await logout(request) }
    }

    // MARK: Pages

    private func list(_ request: Request) async throws -> Response {
        let visitor = visitor(request)
        guard let token = try reader(visitor) else { return redirect("/login") }
        let query = request.uri.queryParameters
        let state = query.get("state").flatMap { HubJobState(rawValue: String($0)) }
        let status = query.get("status").flatMap { HubJobStatus(rawValue: String($0)) }
        let prefix = query.get("prefix").flatMap { $0.isEmpty ? nil : String($0) }
        let cursor = query.get("cursor").map { String($0) }
        let input = Operations.ListJobs.Input(query: .init(state: state, status: status, prefix: prefix, limit: 50, cursor: cursor))
        let listing: HubJobPage
        do {
            listing = try await HubCaller.$token.withValue(token) { try await operations.listJobs(input).ok.body.json }
        } catch {
            return failure(error, visitor)
        }
        var next: String?
        if let cursor = listing.next {
            var components = URLComponents()
            components.path = "/jobs"
            components.queryItems = [("state", state?.rawValue), ("status", status?.rawValue), ("prefix", prefix), ("cursor", cursor)]
                .compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
            next = components.string
        }
        let rows = listing.jobs.map { job in
            ["id": job.id, "job": job.job, "state": job.state.rawValue, "stopping": job.stopping == true, "status": job.status?.rawValue ?? "",
             "submitter": job.submitter ?? "", "queued": JobResult.timestamp(job.queued), "finished": job.finished.map(JobResult.timestamp) ?? "",
             "runners": job.runners.joined(separator: ", "), "attempts": job.attempts, "results": job.results, "replicas": job.replicas] as [String: Any]
        }
        return page("jobs", [
            "title": "Jobs", "jobs": rows, "prefix": prefix ?? "", "next": next as Any,
            "states": HubJobState.allCases.map { ["name": $0.rawValue, "selected": $0 == state] },
            "statuses": HubJobStatus.allCases.map { ["name": $0.rawValue, "selected": $0 == status] },
        ], visitor)
    }

    private func job(_ request: Request, id: String) async throws -> Response {
        let visitor = visitor(request)
        guard let token = try reader(visitor) else { return redirect("/login") }
        let detail: HubJobDetail
        var console = ""
        var consoleNote: String?
        do {
            detail = try await HubCaller.$token.withValue(token) { try await operations.getJob(.init(path: .init(id: id))).ok.body.json }
            let answer = try await HubCaller.$token.withValue(token) {
                try await operations.readConsole(.init(path: .init(id: id), query: .init(offset: 0))).ok
            }
            let bytes = try await Data(collecting: try answer.body.plainText, upTo: 1 << 30)
            let shown = bytes.suffix(256 * 1024)
            if shown.count < bytes.count { consoleNote = "The last 256 KiB of \(bytes.count) bytes (the API has all of it)." }
            console = String(decoding: shown, as: UTF8.self)
            if bytes.isEmpty { consoleNote = detail.job.state == .queued ? "No console yet: the job waits for a runner." : "No console yet." }
        } catch {
            return failure(error, visitor)
        }
        let summary = detail.job
        let result = try? detail.result.map { try HubJSON.recode($0, as: JobResult.self) }
        var rows: [[String: String]] = [["label": "job", "value": summary.job, "style": ""],
                                         ["label": "state", "value": summary.state.rawValue + (summary.stopping == true ? " (stopping)" : ""), "style": ""]]
        if let status = summary.status { rows.append(["label": "status", "value": status.rawValue, "style": status.rawValue]) }
        if let result {
            rows.append(["label": "exit code", "value": result.exitCode.map(String.init) ?? "-", "style": ""])
            if let error = result.error { rows.append(["label": "error", "value": error, "style": "error"]) }
        }
        rows.append(["label": "submitter", "value": summary.submitter ?? "(the hub's operator)", "style": ""])
        rows.append(["label": "queued", "value": JobResult.timestamp(summary.queued), "style": ""])
        if let finished = summary.finished { rows.append(["label": "finished", "value": JobResult.timestamp(finished), "style": ""]) }
        rows.append(["label": "runners", "value": summary.runners.isEmpty ? "-" : summary.runners.joined(separator: ", "), "style": ""])
        rows.append(["label": "attempts", "value": "\(summary.attempts)", "style": ""])
        if summary.replicas > 1 { rows.append(["label": "replicas in", "value": "\(summary.results) of \(summary.replicas)", "style": ""]) }
        if let quorum = result?.quorum { rows.append(["label": "quorum", "value": QuorumText.describe(quorum), "style": quorum.state == .disputed ? "disputed" : "passed"]) }
        if let comparison = result?.comparison { rows.append(["label": "compared", "value": QuorumText.describe(comparison), "style": ""]) }
        let stages = (result?.stages ?? []).map { ["name": $0.name, "summary": $0.summary] }
        let replicas = (result?.quorum?.replicas ?? []).map {
            ["runner": $0.runnerID, "status": $0.status.rawValue, "exitCode": $0.exitCode.map(String.init) ?? "-", "digest": $0.outputDigest ?? "-"]
        }
        var files: [[String: String]] = []
        var filesNote: String?
        if summary.state == .done, let job = try await operations.coordinator.store.job(id), let directory = operations.doneDirectory(of: job) {
            let listing = try await FileWork.run { Self.files(under: "\(directory)/\(JobFiles.output)", limit: 500) }
            files = listing.files.map { ["path": $0.path, "href": Self.pathHref($0.path), "size": "\($0.size)"] }
            if listing.more { filesNote = "The first 500 files; the archive has them all." }
        }
        let canStop = visitor.token.map { $0.name == summary.submitter } == true && summary.state != .done
        return page("job", [
            "title": summary.name, "name": summary.name, "id": summary.id, "rows": rows, "canStop": canStop,
            "hasStages": !stages.isEmpty, "stages": stages, "hasReplicas": !replicas.isEmpty, "replicas": replicas,
            "console": console, "consoleNote": consoleNote as Any, "hasOutput": !files.isEmpty, "files": files, "filesNote": filesNote as Any,
            "refresh": (summary.state == .done ? nil : "3") as String? as Any,
        ], visitor)
    }

    private func download(_ request: Request, id: String, path: String?) async throws -> Response {
        let visitor = visitor(request)
        guard let token = try reader(visitor) else { return redirect("/login") }
        do {
            let output = try await HubCaller.$token.withValue(token) {
                try await operations.downloadOutput(.init(path: .init(id: id), query: .init(path: path), headers: .init()))
            }
            let body = try output.ok.body.binary
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            let name = (path.map { ($0 as NSString).lastPathComponent } ?? JobFiles.outputArchive).filter { $0.isASCII && $0 != "\"" && $0 != "\\" }
            headers[.contentDisposition] = "attachment; filename=\"\(name)\""
            let length = if case .known(let length) = body.length { Int(length) } else { nil as Int? }
            let bytes = body.map { ByteBuffer(bytes: $0) }
            return Response(status: .ok, headers: headers, body: length.map { length in
                ResponseBody(contentLength: length) { writer in
                    for try await buffer in bytes { try await writer.write(buffer) }
                    try await writer.finish(nil)
                }
            } ?? ResponseBody(asyncSequence: bytes))
        } catch {
            return failure(error, visitor)
        }
    }

    private func stop(_ request: Request, id: String) async throws -> Response {
        let visitor = visitor(request)
        let form = try await Self.form(request)
        guard let token = visitor.token, let csrf = visitor.csrf, form["csrf"] == csrf else {
            return page("message", ["title": "Not stopped", "text": "Log in again: the form was not this session's."], visitor, status: .forbidden)
        }
        do {
            _ = try await HubCaller.$token.withValue(token) { try await operations.stopJob(.init(path: .init(id: id))) }
        } catch {
            return failure(error, visitor)
        }
        return redirect("/jobs/\(id)")
    }

    private func login(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard case .token(let token)? = form["token"].map({ authenticator.authenticate(authorization: "Bearer \($0)") }), token.role == .submitter else {
            return page("login", ["title": "Log in", "error": "That is not a live submitter token."], Visitor(), status: .unauthorized)
        }
        let (id, _) = sessions.start(token: token.name)
        var response = redirect("/jobs")
        response.headers[.setCookie] = "\(HubWebSessions.cookie)=\(id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(HubWebSessions.lifetime))"
            + (secureCookies ? "; Secure" : "")
        return response
    }

    private func logout(_ request: Request) async throws -> Response {
        let visitor = visitor(request)
        let form = try await Self.form(request)
        if let csrf = visitor.csrf, form["csrf"] == csrf { sessions.end(visitor.session) }
        var response = redirect("/jobs")
        response.headers[.setCookie] = "\(HubWebSessions.cookie)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + (secureCookies ? "; Secure" : "")
        return response
    }

    // MARK: Plumbing

    func visitor(_ request: Request) -> Visitor {
        let id = Self.cookie(HubWebSessions.cookie, in: request.headers[.cookie])
        guard let session = sessions.session(id), let token = authenticator.token(named: session.token), token.role == .submitter else {
            return Visitor()
        }
        return Visitor(token: token, session: id, csrf: session.csrf)
    }

    /// The token pages read as: the visitor's, or nil for anyone when results are public.
    /// Returns nil (and the page asks to log in) when neither.
    private func reader(_ visitor: Visitor) throws -> HubToken?? {
        if let token = visitor.token { return .some(token) }
        return operations.configuration.publicResults ? .some(nil) : nil
    }

    private func page(_ template: String, _ values: [String: Any], _ visitor: Visitor, status: HTTPResponse.Status = .ok) -> Response {
        var values = values
        values["user"] = visitor.token?.name as Any
        values["csrf"] = visitor.csrf ?? ""
        let html = library.render(values, withTemplate: template) ?? "template \(template) is missing"
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    private func failure(_ error: any Error, _ visitor: Visitor) -> Response {
        let answer = HubErrorResponses.error(for: error)
        return page("message", ["title": "\(answer.status.code) \(answer.status.reasonPhrase)", "text": answer.message], visitor, status: answer.status)
    }

    private func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    static func cookie(_ name: String, in header: String?) -> String? {
        header?.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// A form's fields (application/x-www-form-urlencoded, at most 16 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 16 * 1024)
        var components = URLComponents()
        components.percentEncodedQuery = String(buffer: body).replacingOccurrences(of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in components.queryItems ?? [] where fields[item.name] == nil { fields[item.name] = item.value ?? "" }
        return fields
    }

    /// A file path as a URL path, each part percent-encoded.
    static func pathHref(_ path: String) -> String {
        path.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? "" }
            .joined(separator: "/")
    }

    /// The regular files under `root` (symbolic links neither followed nor listed), by path.
    static func files(under root: String, limit: Int) -> (files: [(path: String, size: Int64)], more: Bool) {
        var found: [(path: String, size: Int64)] = []
        guard let walk = FileManager.default.enumerator(atPath: root) else { return ([], false) }
        while let relative = walk.nextObject() as? String {
            var st = stat()
            guard lstat("\(root)/\(relative)", &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            if found.count == limit { return (found, true) }
            found.append((relative, Int64(st.st_size)))
        }
        return (found.sorted { $0.path < $1.path }, false)
    }
}
