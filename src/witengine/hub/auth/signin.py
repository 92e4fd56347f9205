"""The dashboard's sign-in pages: a form to paste a token, shown with every 401 a browser meets,
and the question a sign-in link (`?token=`) opened from another site asks first."""

from __future__ import annotations

from html import escape


def _target(next_path: str) -> str:
    target = next_path if next_path.startswith("/") and not next_path.startswith("//") else "/"
    return "/" if target == "/signin" else target


def signin_page(next_path: str, reason: str) -> str:
    target = _target(next_path)
    return f"""<!doctype html>
{_HEAD}
<body>
<main id="main">
<h1>Sign in to this witengine hub</h1>
<p class="reason" role="alert">{escape(reason)}</p>
<form method="post" action="/signin">
<input type="hidden" name="next" value="{escape(target)}">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Sign in</button>
</form>
<p>Paste a token: <code>wit token create --role viewer</code> on the hub makes one, and the
hub's first start wrote an admin token to <code>admin.token</code> in its data folder.</p>
</main>
</body>
</html>
"""


def confirm_page(token: str, who: str, next_path: str) -> str:
    """Asks before a sign-in link another site (or a browser that does not say where it came
    from) opened sets the session: the link's token may be someone else's."""
    return f"""<!doctype html>
{_HEAD}
<body>
<main id="main">
<h1>Sign in to this witengine hub?</h1>
<p class="reason" role="alert">This link signs you in with the token {escape(who)}. It was
not opened from this hub's own pages: sign in only if you meant to, with a token you know.</p>
<form method="post" action="/signin">
<input type="hidden" name="next" value="{escape(_target(next_path))}">
<input type="hidden" name="token" value="{escape(token)}">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"""


_HEAD = """<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · witengine</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2430; }
main { max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #fff;
        border: 1px solid #d5d9e0; border-radius: 8px; }
h1 { font-size: 1.4rem; margin-top: 0; }
label { display: block; font-weight: 600; margin: 1rem 0 .3rem; }
input { width: 100%; box-sizing: border-box; font: 14px monospace; padding: .5rem; }
button { margin-top: 1rem; font: inherit; padding: .4rem 1.2rem; background: #1f5fbf;
          color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
p.reason { color: #8a1c1c; }
code { background: #eef0f3; padding: 0 .2rem; }
</style>
</head>"""
