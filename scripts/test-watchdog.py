#!/usr/bin/env python3
"""Runs the test command with a wall-clock limit, so a test that hangs fails the run with a
diagnosis instead of running into CI's own limit with none.

    scripts/test-watchdog.py --limit SECONDS --log FILE -- swift test ...

Copies the command's output (stdout and stderr together) to this script's stdout and to FILE,
and follows Swift Testing's progress lines. Past the limit it stops the command and everything it
started (its session, by SIGKILL: a hung test will not answer anything gentler), then
prints, as the last lines of the run so they are what a truncated CI log keeps:

- the tests that started and never ended, oldest first, with how long they had run;
- the processes the tests had started that were still running (ffmpeg, helpers, servers).

Exits with the command's status, or 124 after a timeout.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

# "◇ Test name() started." opens a test; "✔ Test name() passed after 1.0 seconds.", "✘ Test name()
# failed after ...", "➜ Test name() skipped." and "━"/"✔" "... passed after ... with N known issues"
# close it. Parameterized cases ("◇ Test case passing ...") and the run ("◇ Test run started.") are
# not tests of their own; issue lines ("✘ Test x() recorded an issue ...") close nothing.
STARTED = re.compile(r"^◇ Test (?!case |run )(.+?) started\.$")
ENDED = re.compile(r"^[✔✘➜━] Test (?!case |run )(.+?)(?: passed after | failed after | skipped)")
# Swift Testing colours its output in some terminals; the patterns above match the plain text.
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def kill_session(session):
    """SIGKILL to every process of `session`: `swift test` starts the test binary in a process
    group of its own, so the group of the command alone would miss the tests and what they run."""
    for _ in range(3):  # a process may fork while the others are being killed
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # The fields after the command name, which is in parentheses and may hold spaces.
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == session:
                    os.kill(int(entry), signal.SIGKILL)
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=float, required=True, help="seconds the command may run")
    parser.add_argument("--log", required=True, help="a copy of the output")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.limit <= 0:
        parser.error("a command after -- and a positive --limit are required")

    began = time.monotonic()
    running = {}  # test name -> when it started
    lock = threading.Lock()
    environment = dict(os.environ, NO_COLOR="1")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, env=environment)

    # The command runs in a session of its own (so that a timeout can end all of it): an
    # interrupt or a stop of this script must end it too, or the tests would run on without it.
    def interrupted(number, _frame):
        kill_session(process.pid)
        sys.exit(128 + number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupted)
    timed_out = threading.Event()
    report = []

    def watchdog():
        if process_done.wait(args.limit):
            return
        try:
            report_and_stop()
        finally:
            reported.set()

    def report_and_stop():
        timed_out.set()
        now = time.monotonic()
        with lock:
            stuck = sorted(running.items(), key=lambda item: item[1])
        report.append(f"test-watchdog: the tests ran past {args.limit:.0f} s and were stopped.")
        if stuck:
            report.append("Tests that started and never ended (oldest first):")
            report.extend(f"  {name}: running for {now - since:.0f} s" for name, since in stuck)
        else:
            report.append("No test was running (the hang is outside a test: start-up or exit).")
        tree = subprocess.run(
            ["ps", "-o", "pid,ppid,stat,etime,args", "--forest", "-g", str(process.pid)],
            capture_output=True, text=True).stdout.rstrip()
        report.append("Processes of the test run still alive:")
        report.extend("  " + line for line in tree.splitlines())
        kill_session(process.pid)

    process_done = threading.Event()
    reported = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()

    def copy():
        with open(args.log, "wb") as log:
            for raw in process.stdout:
                try:
                    sys.stdout.buffer.write(raw)
                    sys.stdout.buffer.flush()
                except OSError:
                    pass  # our own stdout went away: keep draining, or the tests would block on a full pipe
                log.write(raw)
                text = COLOUR.sub("", raw.decode("utf-8", "replace")).rstrip("\n")
                started, ended = STARTED.match(text), ENDED.match(text)
                with lock:
                    if started:
                        running[started.group(1)] = time.monotonic()
                    elif ended:
                        running.pop(ended.group(1), None)

    copier = threading.Thread(target=copy, daemon=True)
    copier.start()
    status = process.wait()
    process_done.set()
    # A process that left the group could still hold the output open: do not wait for it long.
    copier.join(10)
    if timed_out.is_set():
        reported.wait(30)
        report.append(f"test-watchdog: stopped after {time.monotonic() - began:.0f} s")
        text = "\n".join(report) + "\n"
        print(text, end="", flush=True)
        with open(args.log, "a") as log:
            log.write(text)
        return 124
    return status


if __name__ == "__main__":
    sys.exit(main())
