"""A staff member's browser for the console benches (console-accounts.sh, console-audit.sh).

Signing in is here once, as the login form asks for it (GET /login for the CSRF token, POST
the form, the session kept in a cookie jar), then enrolling the second factor the console
requires (RFC 6238 computed here, as an authenticator app does). The scripts run their
Python with PYTHONPATH=bench.
"""

import base64
import hashlib
import hmac
import html
import struct
import http.cookiejar
import re
import time
import urllib.parse
import urllib.request

STAFF_EMAIL = "staff@example.net"
STAFF_PASSWORD = "the staff phrase"


def signed_in(base, email=STAFF_EMAIL, password=STAFF_PASSWORD):
    """A browser (urllib opener with cookies) signed in at `base` as `email`."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    login = browser.open(base + "/login").read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', login).group(1)
    form = {"email": email, "password": password, "csrf": token}
    answer = browser.open(base + "/login", urllib.parse.urlencode(form).encode())
    answer.read()
    # A signed-in browser is sent on (303, followed) away from the login form.
    if answer.geturl().endswith("/login"):
        raise SystemExit(f"could not sign {email} in at {base}")
    enrol(browser, base)
    return browser


def totp(secret, at=None):
    """The 6-digit RFC 6238 code of the base32 `secret` (SHA-1, 30 s steps) at `at`."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def enrol(browser, base):
    """Switches the signed-in user's second factor on, which the console asks first."""
    page = browser.open(base + "/account/second-factor").read().decode()
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page)
    if secret is None:
        return  # already on
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": token, "code": totp(secret.group(1))}
    answer = browser.open(base + "/account/second-factor/on", urllib.parse.urlencode(form).encode())
    if "recovery-codes" not in answer.read().decode():
        raise SystemExit(f"could not enrol a second factor at {base}")


def timed(browser, url, runs=5):
    """Loads `url` `runs` times: (status, last body as bytes, times in ms)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = browser.open(url)
        body = answer.read()
        times.append((time.perf_counter() - start) * 1000)
    return answer.status, body, times


def median(times):
    return sorted(times)[len(times) // 2]


def next_link(page):
    """The href of a page's rel="next" link, unescaped, if any."""
    found = re.search(r'href="([^"]+)" rel="next"', page)
    return html.unescape(found.group(1)) if found else None
