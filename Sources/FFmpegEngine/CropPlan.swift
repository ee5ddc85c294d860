import Foundation

/// Where a 9:16 clip is cut out of a wider source: a window of fixed size whose left edge may
/// move only at a scene change (one `x` per scene, never within one: no jitter).
struct CropPlan: Sendable, Hashable {
    /// From `fromMs` (relative to the clip's start) on, the window's left edge is `x`.
    struct Step: Sendable, Hashable {
        var fromMs: Int
        var x: Int
    }

    /// The window, in source pixels.
    var width: Int
    var height: Int
    var y: Int
    /// The first step starts at 0.
    var steps: [Step]

    /// The largest 9:16 window of a `width`×`height` source, centred.
    static func centred(sourceWidth: Int, sourceHeight: Int) -> CropPlan {
        let (width, height) = size(sourceWidth: sourceWidth, sourceHeight: sourceHeight)
        return CropPlan(
            width: width, height: height, y: (sourceHeight - height) / 2,
            steps: [Step(fromMs: 0, x: (sourceWidth - width) / 2 / 2 * 2)])
    }

    /// The largest 9:16 window that fits the source (even sizes, as yuv420p wants).
    static func size(sourceWidth: Int, sourceHeight: Int) -> (width: Int, height: Int) {
        if sourceWidth * 16 >= sourceHeight * 9 {
            return (min(sourceWidth, Int((Double(sourceHeight) * 9 / 16).rounded())) / 2 * 2, sourceHeight / 2 * 2)
        }
        return (sourceWidth / 2 * 2, min(sourceHeight, Int((Double(sourceWidth) * 16 / 9).rounded())) / 2 * 2)
    }

    /// The window's left edge for a face centred at `centerX`, clamped to the frame.
    static func left(centeredOn centerX: Double, width: Int, sourceWidth: Int) -> Int {
        let wanted = Int(centerX.rounded()) - width / 2
        return max(0, min(sourceWidth - width, wanted)) / 2 * 2
    }

    /// ffmpeg's `crop` with `x` as a step function of the clip's time `t` (seconds).
    var filter: String {
        var expression = "\(steps.last?.x ?? 0)"
        for index in steps.indices.dropLast().reversed() {
            let until = String(format: "%.3f", Double(steps[index + 1].fromMs) / 1000)
            expression = "if(lt(t\\,\(until))\\,\(steps[index].x)\\,\(expression))"
        }
        return "crop=w=\(width):h=\(height):x=\(expression):y=\(y)"
    }
}
