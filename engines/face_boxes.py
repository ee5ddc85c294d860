#!/usr/bin/env python3
"""Face boxes for clipping-worker's speaker-aware 9:16 framing.

Usage: face_boxes.py --width W --height H [--cascades DIR] < raw gray frames
       face_boxes.py --check

Reads raw 8-bit gray frames of W x H bytes from stdin (ffmpeg `-f rawvideo -pix_fmt gray`), one
after another, and prints one JSON line per frame as soon as it is read, so frames are never
held in memory beyond the one being looked at:

    {"i": 0, "faces": [[x, y, w, h], ...], "motion": 0.8, "edges": 0.061}

`faces` are in the frame's pixels, largest first. `motion` is the mean absolute difference from
the previous frame (gray levels, 0-255; null for the first frame) and `edges` the share of
pixels on a Canny edge: the worker's `screen_share` heuristic reads both.

Detector (issue #13, measured on OpenCV 4.6 from Debian): `haarcascade_frontalface_alt2.xml`;
when it finds nothing, `haarcascade_profileface.xml` on the frame and on its mirror image (the
profile cascade only knows faces turned one way). One thread: two jobs share two cores.
"""
import argparse
import json
import os
import sys

CASCADES = "/usr/share/opencv4/haarcascades"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--cascades", default=CASCADES)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    import cv2
    import numpy as np

    cv2.setNumThreads(1)
    frontal = cv2.CascadeClassifier(os.path.join(args.cascades, "haarcascade_frontalface_alt2.xml"))
    profile = cv2.CascadeClassifier(os.path.join(args.cascades, "haarcascade_profileface.xml"))
    if frontal.empty() or profile.empty():
        print(f"faces: Haar cascades not found in {args.cascades} (apt-get install opencv-data)", file=sys.stderr)
        return 2
    if args.check:
        print(json.dumps({"type": "ok", "opencv": cv2.__version__}))
        return 0
    if not args.width or not args.height:
        parser.error("--width and --height are required")
    width, height = args.width, args.height
    size = width * height
    # Faces smaller than 4 % of the frame width are too small to frame a 9:16 crop on.
    smallest = max(20, width // 25)
    stdin = sys.stdin.buffer
    previous = None
    index = 0
    while True:
        data = stdin.read(size)
        if len(data) < size:
            break
        frame = np.frombuffer(data, dtype=np.uint8).reshape(height, width)
        equalized = cv2.equalizeHist(frame)
        found = frontal.detectMultiScale(equalized, scaleFactor=1.1, minNeighbors=4, minSize=(smallest, smallest))
        boxes = [list(map(int, b)) for b in found] if len(found) else []
        if not boxes:
            for b in profile.detectMultiScale(equalized, scaleFactor=1.1, minNeighbors=4, minSize=(smallest, smallest)):
                boxes.append(list(map(int, b)))
            mirrored = cv2.flip(equalized, 1)
            for x, y, w, h in profile.detectMultiScale(mirrored, scaleFactor=1.1, minNeighbors=4, minSize=(smallest, smallest)):
                boxes.append([int(width - x - w), int(y), int(w), int(h)])
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        motion = None if previous is None else round(float(cv2.absdiff(frame, previous).mean()), 3)
        edges = round(float((cv2.Canny(frame, 100, 200) > 0).mean()), 4)
        sys.stdout.write(json.dumps({"i": index, "faces": boxes, "motion": motion, "edges": edges}) + "\n")
        sys.stdout.flush()
        previous = frame
        index += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
