import Foundation

/// The data directory and its folders are 0750: the operators' group may enter and read the
/// delivery log (0640), no one else may enter (the database and the secret are 0600 inside).
enum DataDirectoryMode {
    /// The mode of a folder `serve` creates.
    static let mode = 0o750

    /// Creates `path` (and its parents) with mode 0750; an existing folder wider than that is
    /// narrowed (its bits masked by 0750), never widened.
    /// - Throws: ``ConfigurationError`` naming `CLIPPING_WORKER_DATA_DIR`.
    static func prepare(_ path: String) throws(ConfigurationError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
        } catch {
            throw ConfigurationError("CLIPPING_WORKER_DATA_DIR", "cannot create \(path): \(error.localizedDescription)")
        }
        let manager = FileManager.default
        guard let current = (try? manager.attributesOfItem(atPath: path))?[.posixPermissions] as? Int else { return }
        if current & ~mode != 0 {
            try? manager.setAttributes([.posixPermissions: current & mode], ofItemAtPath: path)
        }
    }
}
