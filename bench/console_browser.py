"""A staff member's browser for the console benches (console-accounts.sh, console-audit.sh).

Signing in is here once, as the login form asks for it (GET /login for the CSRF token, POST
the form, the session kept in a cookie jar), so that a change to sign-in (a second factor)
is made in this file only. The scripts run their Python with PYTHONPATH=bench.
"""

import html
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
    return browser


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
