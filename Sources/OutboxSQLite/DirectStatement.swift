import GRDB
import GRDBSQLite
import WebhookCore

/// Runs one of the statements every delivery runs with its parameters bound straight through the
/// SQLite C API.
///
/// GRDB's `execute(arguments:)` builds a `StatementArguments` per execution: an array of boxed
/// values, a copy of the body into `Data`, a `String` per event id. For the event insert and the
/// first-attempt update, that work cost about as much CPU as SQLite's own; here the body is bound
/// in place, the event id is written into a stack buffer, and nothing is allocated on the Swift
/// side. The statement stays GRDB's cached statement: it is reset and its bindings cleared after
/// each run, so GRDB finds it as it left it.
struct DirectStatement {
    private let handle: OpaquePointer
    private let connection: OpaquePointer?
    /// The first bind SQLite refused (a value too big, an index out of range): the run fails
    /// with it instead of stepping with a parameter left NULL or stale.
    private var bindFailure: (index: Int32, code: Int32)?

    init(_ statement: Statement, in db: Database) {
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
    }

    /// SQLite copies what is bound with this destructor before `bind` returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private mutating func check(_ code: Int32, _ index: Int32) {
        if code != SQLITE_OK && bindFailure == nil { bindFailure = (index, code) }
    }

    mutating func bind(_ index: Int32, _ value: Int64) {
        check(sqlite3_bind_int64(handle, index, value), index)
    }

    mutating func bind(_ index: Int32, _ value: Int64?) {
        check(value.map { sqlite3_bind_int64(handle, index, $0) } ?? sqlite3_bind_null(handle, index), index)
    }

    mutating func bind(_ index: Int32, _ value: Int?) {
        bind(index, value.map(Int64.init))
    }

    mutating func bind(_ index: Int32, _ value: String?) {
        guard var value else {
            check(sqlite3_bind_null(handle, index), index)
            return
        }
        let code = value.withUTF8 { bytes -> Int32 in
            // An empty string has no buffer: bound as the empty text, not NULL.
            guard let base = bytes.baseAddress else { return sqlite3_bind_text(handle, index, "", 0, Self.transient) }
            return sqlite3_bind_text(
                handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient)
        }
        check(code, index)
    }

    mutating func bind(_ index: Int32, _ id: EventID) {
        let code = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: EventID.textLength) { buffer in
            id.writeText(to: buffer)
            return sqlite3_bind_text(
                handle, index, UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(EventID.textLength), Self.transient)
        }
        check(code, index)
    }

    /// Runs the statement with `blob` bound at `index` without copying it (it lives until the
    /// statement has run), then resets it.
    mutating func run(binding blob: [UInt8], at index: Int32, sql: @autoclosure () -> String) throws {
        try blob.withUnsafeBytes { bytes in
            // SQLITE_STATIC (a nil destructor): SQLite reads the bytes during the step; they outlive it.
            check(sqlite3_bind_blob(handle, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), nil), index)
            try run(sql: sql())
        }
    }

    /// Runs the statement to its end and resets it (bindings cleared).
    func run(sql: @autoclosure () -> String) throws {
        if let bindFailure {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
            throw DatabaseError(
                resultCode: ResultCode(rawValue: bindFailure.code),
                message: "parameter \(bindFailure.index) refused: \(String(cString: sqlite3_errstr(bindFailure.code)))", sql: sql())
        }
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else {
            let message = connection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql())
        }
    }
}
