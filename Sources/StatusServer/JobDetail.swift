import Foundation
import Hummingbird
import JobModel
import ServiceLifecycle

/// `/api/jobs/NAME`: a done job's result and the files of its directory.
struct JobDetail {
    struct File {
        var path: String
        var size: Int64
        var regular: Bool
    }
    var directory: String
    var result: JobResult
    var files: [File]

    func encoded() throws -> Data {
        // The result as result.json has it, inside this object.
        let resultObject = try JSONSerialization.jsonObject(with: result.encoded())
        let filesObject = files.map { ["path": $0.path, "size": $0.size, "regular": $0.regular] as [String: Any] }
        return try JSONSerialization.data(
            withJSONObject: ["directory": directory, "result": resultObject, "files": filesObject],
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
