#!/usr/bin/env python3
"""Browser tests of the operations page (issue #12, SPEC section 9) in real headless Chromium.

Runs the built `clipping-worker serve` against a real receiver (an HTTP server in this script
that answers 400 until it is healed, then 204) and drives Debian's chromium through
chromium-driver with selenium:

1. the page loads with no console errors and shows a failed job's events;
2. clicking Redeliver delivers that event to the (now healthy) receiver, same webhook-id;
3. the bulk form shows the right count in a dry run, then redelivers that many;
4. with a token the page asks for it, keeps an HttpOnly SameSite=Strict cookie (the token is in
   no URL and not in localStorage), and a cross-origin POST that carries the cookie is refused.

Screenshots of the main states go to --screenshots. Exit 0 when every check passed.
Only 127.0.0.1 is contacted. Every wait is bounded.
"""
import argparse
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHECKS = []


def check(condition, message):
    CHECKS.append((bool(condition), message))
    print(("ok   " if condition else "FAIL ") + message, flush=True)
    if not condition:
        raise AssertionError(message)


def wait_for(what, condition, timeout=20.0, interval=0.1):
    """Polls `condition` until it returns a truthy value (bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # the page may be mid-refresh
            pass
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Serves the video and takes callbacks: 400 until healed, then 204; records webhook-ids."""

    def __init__(self):
        self.healed = False
        self.posts = []  # (webhook-id, path, status)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/v.mp4":
                    body = b"\x00" * 2000
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path.startswith("/attack"):
                    # Another origin's page (a different port is another origin, the same site).
                    body = receiver.attack_page.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                status = 204 if receiver.healed else 400
                with receiver.lock:
                    receiver.posts.append((self.headers.get("webhook-id"), self.path, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.attack_page = ""
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def delivered(self, event_id):
        with self.lock:
            return [p for p in self.posts if p[0] == event_id and p[2] == 204]

    def count(self, event_id):
        with self.lock:
            return len([p for p in self.posts if p[0] == event_id])


class Worker:
    """`clipping-worker serve` on a free loopback port with its own data directory."""

    def __init__(self, binary, root, token=None):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.token = token
        self.data = tempfile.mkdtemp(prefix="ops-browser-", dir=root)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPPING_WORKER_", "WEBHOOK_"))}
        env.update({
            "CLIPPING_WORKER_ENGINE": "simulated", "CLIPPING_WORKER_SIMULATED_STAGE_SECONDS": "0.05",
            "CLIPPING_WORKER_ALLOWED_NETWORKS": "127.0.0.0/8", "WEBHOOK_PROGRESS_MIN_INTERVAL_SECONDS": "0",
        })
        if token:
            env["CLIPPING_WORKER_API_TOKEN"] = token
        self.log = open(os.path.join(self.data, "serve.log"), "wb")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--data-dir", self.data], env=env, stdout=self.log, stderr=self.log)
        wait_for("the worker to listen", lambda: self.call("GET", "/healthz")[0] == 200, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (urllib.error.URLError, ConnectionError):
            return 0, {}

    def submit(self, receiver, callback, external):
        status, body = self.call("POST", "/ai-clipping/jobs", {
            "video_url": receiver.url("/v.mp4"), "callback_url": receiver.url(callback),
            "external_job_id": external, "max_clips": 1})
        check(status == 202, "job %s accepted" % external)
        return body["job_id"]

    def wait_terminal(self, job_id, state):
        def done():
            status, job = self.call("GET", "/ai-clipping/jobs/" + job_id)
            last = job.get("last_delivery") or {}
            return last.get("event") in ("job.completed", "job.failed") and last.get("state") == state and last
        return wait_for("job %s's terminal event to be %s" % (job_id, state), done)

    def stop(self):
        # Only the process this script started, by its handle.
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


def browser(chromium, driver_path):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def failed_row(driver, event_id):
    rows = driver.find_elements(By.CSS_SELECTOR, '#failed-table tr[data-event-id="%s"]' % event_id)
    return rows[0] if rows else None


def test_page_without_token(driver, binary, root, shots, receiver):
    worker = Worker(binary, root)
    try:
        first = worker.submit(receiver, "/hooks/a?token=s3cret", "browser-a")
        second = worker.submit(receiver, "/hooks/b", "browser-b")
        terminal = worker.wait_terminal(first, "failed")
        worker.wait_terminal(second, "failed")
        driver.get(worker.base + "/ops/")
        wait_for("the status to render", lambda: driver.find_element(By.ID, "depth-failed").text not in ("", "–"))
        # The failed job's events are listed, with a Redeliver button each.
        row = wait_for("the failed terminal event's row", lambda: failed_row(driver, terminal["event_id"]))
        check(first in row.get_attribute("data-job-id"), "a failed job's events appear")
        check("REDACTED" in row.text or "REDACTED" in row.find_elements(By.TAG_NAME, "td")[5].get_attribute("title"),
              "the callback URL is redacted on the page")
        wait_for("the timeline", lambda: driver.find_elements(By.CSS_SELECTOR, "#timeline li .attempts"))
        wait_for("the origins table", lambda: "127.0.0.1:%d" % receiver.port in driver.find_element(By.ID, "origins-table").text)
        driver.save_screenshot(os.path.join(shots, "ops-failed-events.png"))
        check(not console_errors(driver), "the page loads with no console errors")

        # Redeliver one event by its button, to the receiver now healthy.
        receiver.healed = True
        row.find_element(By.CSS_SELECTOR, "button.redeliver").click()
        wait_for("the redelivered event at the receiver", lambda: receiver.delivered(terminal["event_id"]))
        check(receiver.count(terminal["event_id"]) == 2, "Redeliver sent the event again, same webhook-id, and it was delivered")
        wait_for("the row to leave the failed list", lambda: failed_row(driver, terminal["event_id"]) is None, timeout=15)

        # Bulk: a dry-run count first (what the API counts), then the redelivery.
        status, expected = worker.call("POST", "/deliveries/redeliver", {"state": "failed", "since": "1h", "dry_run": True})
        check(status == 200 and expected["matched"] > 0, "failed events remain for the bulk form (%s)" % expected)
        driver.find_element(By.ID, "bulk-since").clear()
        driver.find_element(By.ID, "bulk-since").send_keys("1h")
        driver.find_element(By.ID, "bulk-count").click()
        result = wait_for("the dry-run count", lambda: driver.find_element(By.ID, "bulk-result").text)
        check(result.startswith("%d events match" % expected["matched"]), "the bulk form shows the dry-run count: " + result)
        check(driver.find_element(By.ID, "bulk-cli").text.endswith("--state failed --since 1h --dry-run"), "the form shows its CLI command")
        driver.save_screenshot(os.path.join(shots, "ops-bulk-dry-run.png"))
        _, listed = worker.call("GET", "/deliveries?state=failed&since=1h&limit=1000")
        ids = [event["event_id"] for event in listed["events"]]
        driver.find_element(By.ID, "bulk-send").click()
        sent = wait_for("the bulk result", lambda: "Redelivered" in driver.find_element(By.ID, "bulk-result").text
                        and driver.find_element(By.ID, "bulk-result").text)
        check(sent.startswith("Redelivered %d of %d" % (len(ids), expected["matched"])), "the bulk form redelivered: " + sent)
        wait_for("every bulk-redelivered event at the receiver", lambda: all(receiver.delivered(i) for i in ids))
        check(True, "each of the %d events reached the receiver again" % len(ids))
        wait_for("the failed list to empty", lambda: "No failed or dropped events" in driver.find_element(By.ID, "failed-table").text)
        driver.save_screenshot(os.path.join(shots, "ops-after-redelivery.png"))
        check(not console_errors(driver), "no console errors after the actions")
    finally:
        # Leave the page first: it polls its server, and a poll of the stopped server would be
        # a console error charged to the next test.
        driver.get("about:blank")
        worker.stop()


def test_page_with_token(driver, binary, root, shots, receiver):
    token = "browser-test-token-0123456789"
    worker = Worker(binary, root, token=token)
    try:
        receiver.healed = False
        driver.get_log("browser")  # what earlier pages logged is not this test's
        job = worker.submit(receiver, "/hooks/t", "browser-t")
        terminal = worker.wait_terminal(job, "failed")
        driver.delete_all_cookies()
        driver.get(worker.base + "/ops/")
        wait_for("the sign-in form", lambda: "show" in driver.find_element(By.ID, "login").get_attribute("class"))
        driver.save_screenshot(os.path.join(shots, "ops-sign-in.png"))
        check(True, "with a token, the page asks for it")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
        wait_for("the page after sign-in", lambda: "show" not in driver.find_element(By.ID, "login").get_attribute("class")
                 and failed_row(driver, terminal["event_id"]))
        # Before sign-in the page's data calls got 401 (what made it ask): the only errors allowed.
        errors = [e for e in console_errors(driver) if "status of 401" not in e["message"]]
        check(not errors, "no console errors around sign-in other than the 401s that asked for it: %s" % errors)
        cookies = {c["name"]: c for c in driver.get_cookies()}
        session = cookies.get("cw_ops_session")
        check(session and session["httpOnly"] and session.get("sameSite") == "Strict", "the session is an HttpOnly SameSite=Strict cookie")
        check(token not in driver.current_url and token not in session["value"], "the token is in no URL and not the cookie")
        storage = driver.execute_script("return JSON.stringify(window.localStorage) + JSON.stringify(window.sessionStorage)")
        check(token not in storage and storage == "{}{}", "nothing in localStorage or sessionStorage")
        check(driver.execute_script("return document.cookie") == "", "the script cannot read the session cookie")
        # Another origin (the receiver's port: same site, so the Strict cookie rides along) posts a form.
        receiver.healed = True
        before = receiver.count(terminal["event_id"])
        receiver.attack_page = (
            '<!doctype html><form id="f" method="post" action="%s/deliveries/%s/redeliver"></form>'
            '<script>document.getElementById("f").submit()</script>' % (worker.base, terminal["event_id"]))
        driver.get(receiver.url("/attack"))
        wait_for("the worker's answer to the cross-origin form", lambda: "cross_origin" in driver.page_source)
        check("cross_origin" in driver.page_source, "a cross-origin POST with the cookie is refused (403)")
        time.sleep(1.0)  # what a wrongly accepted redelivery would take to arrive (bounded, checked once)
        check(receiver.count(terminal["event_id"]) == before, "the refused POST sent nothing to the receiver")
        # The page itself (same origin, with the cookie) still may.
        driver.get_log("browser")  # the refused navigation's 403 is expected
        driver.get(worker.base + "/ops/")
        row = wait_for("the failed row again", lambda: failed_row(driver, terminal["event_id"]))
        row.find_element(By.CSS_SELECTOR, "button.redeliver").click()
        wait_for("the same-origin redelivery at the receiver", lambda: receiver.delivered(terminal["event_id"]))
        check(True, "the page's own POST with the cookie is accepted")
        driver.save_screenshot(os.path.join(shots, "ops-signed-in.png"))
        check(not console_errors(driver), "no console errors with a token")
    finally:
        worker.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--driver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    root = tempfile.mkdtemp(prefix="ops-browser-")
    receiver = Receiver()
    driver = browser(args.chromium, args.driver)
    started = time.monotonic()
    try:
        test_page_without_token(driver, args.binary, root, args.screenshots, receiver)
        test_page_with_token(driver, args.binary, root, args.screenshots, receiver)
    except AssertionError as error:
        print("FAILED: %s" % error, flush=True)
        try:
            driver.save_screenshot(os.path.join(args.screenshots, "ops-failure.png"))
        except Exception:
            pass
        return 1
    finally:
        driver.quit()
        receiver.server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print("browser tests: %d checks passed in %.1f s; screenshots in %s"
          % (len(CHECKS), time.monotonic() - started, args.screenshots), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
