import ArgumentParser
import Foundation
import WorkerService

/// `clipping-worker`: the worker and its operator tools (SPEC section 2).
@main
struct ClippingWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipping-worker",
        abstract: "Runs video-clipping jobs and delivers signed webhooks about them.",
        version: WorkerVersion.current,
        subcommands: [
            ServeCommand.self, SubmitCommand.self, JobsCommand.self, DeliveriesCommand.self, ReceiveCommand.self,
            VerifyCommand.self, ImportSQLiteCommand.self,
        ])
}

/// Prints to standard error.
func printError(_ text: String) {
    var stream = StandardError()
    print(text, to: &stream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }
}
