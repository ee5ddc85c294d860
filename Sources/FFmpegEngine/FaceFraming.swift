import Foundation

/// Speaker-aware framing and the face-based layout of one clip, from the samples of
/// ``FaceSampler`` (issue #13).
///
/// Crop: per scene (the clip split at scene cuts), the window is centred on the median centre of
/// the largest face of the sampled frames that show one, when at least a quarter of the scene's
/// samples do (a lone false detection does not steer it); clamped to the frame; centred when
/// there is no face. One position per scene.
///
/// Layout, from the same samples:
/// - `talking_head`: exactly one face at least 8 % of the frame width wide in at least 60 % of
///   the sampled frames.
/// - `screen_share`: no face in any sample, a still picture (median change between samples under
///   0.5 gray levels of 255) with edges on at least 1 % of the pixels (text, windows, diagrams:
///   a blank or flat picture has almost none). Measured: a static slide of three text lines
///   0.02 edges and 0.0 change; the sample's moving test cards change by ~10 levels.
/// - otherwise: `dynamic` when the planner counted 3 or more cuts, else `unknown`.
enum FaceFraming {
    struct Decision: Sendable, Hashable {
        var crop: CropPlan
        var layout: String
        var reasons: [String]
    }

    static let talkingHeadFaceWidth = 0.08
    static let talkingHeadShare = 0.6
    static let stillMotion = 0.5
    static let screenEdges = 0.01

    /// Decides the crop and layout of `clip`.
    /// - Parameters:
    ///   - samples: the clip's samples, in time order.
    ///   - cuts: scene cuts of the whole source (ms).
    static func decide(
        clip: PlannedClip, samples: [FaceSample], cuts: [Int], sourceWidth: Int, sourceHeight: Int
    ) -> Decision {
        var crop = CropPlan.centred(sourceWidth: sourceWidth, sourceHeight: sourceHeight)
        var reasons = [String]()
        let inside = cuts.filter { $0 > clip.startTimeMs && $0 < clip.endTimeMs }.sorted()
        let bounds = [clip.startTimeMs] + inside + [clip.endTimeMs]
        var steps = [CropPlan.Step]()
        for (index, (from, to)) in zip(bounds, bounds.dropFirst()).enumerated() {
            let scene = samples.filter { $0.timeMs >= from && $0.timeMs < to }
            let centres = scene.compactMap { $0.faces.first?.centerX }.sorted()
            let span = String(format: "%.1f–%.1f s", Double(from - clip.startTimeMs) / 1000, Double(to - clip.startTimeMs) / 1000)
            let x: Int
            if !centres.isEmpty, centres.count * 4 >= scene.count {
                let median = centres.count % 2 == 1
                    ? centres[centres.count / 2] : (centres[centres.count / 2 - 1] + centres[centres.count / 2]) / 2
                x = CropPlan.left(centeredOn: median, width: crop.width, sourceWidth: sourceWidth)
                reasons.append(
                    "framing, scene \(index + 1) (\(span)): a face in \(centres.count) of \(scene.count) sampled frames; "
                        + "crop centred on its median centre x=\(Int(median)) of \(sourceWidth) (left edge \(x))")
            } else {
                x = crop.steps[0].x
                reasons.append(
                    "framing, scene \(index + 1) (\(span)): no face in \(scene.count) sampled frames; centre crop")
            }
            if steps.last?.x != x { steps.append(CropPlan.Step(fromMs: from - clip.startTimeMs, x: x)) }
        }
        crop.steps = steps.isEmpty ? crop.steps : steps

        let total = samples.count
        let oneBigFace = samples.filter { sample in
            sample.faces.filter { $0.width >= talkingHeadFaceWidth * Double(sourceWidth) }.count == 1
        }.count
        let anyFace = samples.contains { !$0.faces.isEmpty }
        let motion = median(samples.compactMap(\.motion))
        let edges = median(samples.map(\.edges))
        let layout: String
        if total > 0, Double(oneBigFace) >= talkingHeadShare * Double(total) {
            layout = "talking_head"
            reasons.append(
                "layout talking_head: one face ≥ 8% of the frame width in \(oneBigFace) of \(total) sampled frames")
        } else if total >= 2, !anyFace, let motion, let edges, motion < stillMotion, edges >= screenEdges {
            layout = "screen_share"
            reasons.append(
                "layout screen_share: no face, a still picture (median change \(String(format: "%.2f", motion)) gray levels) "
                    + "with edges on \(String(format: "%.1f", edges * 100))% of the pixels")
        } else {
            layout = clip.layoutType == "dynamic" ? "dynamic" : "unknown"
            reasons.append(
                "layout \(layout): one large face in \(oneBigFace) of \(total) sampled frames (talking_head needs 60%)"
                    + (layout == "dynamic" ? ", and 3 or more scene changes" : ""))
        }
        return Decision(crop: crop, layout: layout, reasons: reasons)
    }

    private static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
