"""A school system that signs staff in with Gatehouse, through authlib's Flask client.

The guide is docs/integrations/python-authlib.md; test/integrations/authlib.test.ts runs this file.
Debian: apt-get install python3-authlib python3-flask python3-requests, then /usr/bin/python3 app.py.
"""

import hashlib
import os
import secrets
from urllib.parse import urlencode

import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.jose.errors import JoseError
from flask import Flask, abort, redirect, render_template_string, request, session

# --- Configuration: all of it comes from the environment.
ISSUER = os.environ["GATEHOUSE_ISSUER"]  # e.g. https://sso.trust.example
CLIENT_ID = os.environ["GATEHOUSE_CLIENT_ID"]  # from `client add`
CLIENT_SECRET = os.environ["GATEHOUSE_CLIENT_SECRET"]  # from `client add`, shown once
BASE_URL = os.environ["APP_BASE_URL"]  # where people reach this app, e.g. https://library.hill.example
HIGHER = "urn:gatehouse:acr:higher"

app = Flask(__name__)
app.secret_key = os.environ["APP_SECRET_KEY"]  # signs Flask's session cookie
app.config.update(SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=BASE_URL.startswith("https://"))

# Tokens stay on the server; the browser's cookie holds only a random key to them.
# One process keeps them in memory here: use your database or cache instead.
SIGNED_IN = {}


def signed_in():
    return SIGNED_IN.get(session.get("key"))


def keep_refreshed_token(name, token, refresh_token=None, access_token=None):
    # authlib refreshes an expired access token by itself (below, at userinfo): keep the new tokens.
    held = signed_in()
    if held is not None:
        held["token"] = token


# --- The client, registered from Gatehouse's discovery document.
oauth = OAuth(app, update_token=keep_refreshed_token)
oauth.register(
    "gatehouse",
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    client_kwargs={
        "scope": "openid email profile school offline_access",
        "token_endpoint_auth_method": "client_secret_basic",
        "code_challenge_method": "S256",
    },
)


def id_token_rules(acr=None):
    # authlib checks the signature (keys from jwks_uri), exp and the nonce by itself. It checks
    # iss and aud only as told here: claims_options replaces its default issuer check.
    rules = {
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": CLIENT_ID},
    }
    if acr:
        rules["acr"] = {"essential": True, "value": acr}
    return rules


# --- Sign in: authorization code with PKCE (S256), a state and a nonce.
@app.get("/login")
def login():
    # prompt=consent is what makes Gatehouse issue a refresh token (offline_access).
    return oauth.gatehouse.authorize_redirect(f"{BASE_URL}/callback", prompt="consent")


@app.get("/callback")
def callback():
    return finish_sign_in()


def finish_sign_in(acr=None):
    try:
        token = oauth.gatehouse.authorize_access_token(claims_options=id_token_rules(acr))
    except (OAuthError, JoseError) as error:
        # Refused at Gatehouse (access_denied), or a state, nonce, signature, iss, aud or acr that
        # does not match: nobody is signed in.
        return refused(f"{error.error}: {error.description}")
    claims = token.get("userinfo")  # the ID token's claims, checked
    if claims is None:
        abort(500)  # authlib checks an ID token only when the request had a nonce: never trust one unchecked
    SIGNED_IN.pop(session.get("key"), None)
    session["key"] = secrets.token_urlsafe(32)  # a new key at every sign-in
    SIGNED_IN[session["key"]] = {"token": token, "claims": dict(claims)}
    return redirect("/")


# --- Step-up: ask for higher access, and refuse unless the new ID token's acr says so.
@app.get("/step-up")
def step_up():
    return oauth.gatehouse.authorize_redirect(f"{BASE_URL}/step-up/callback", acr_values=HIGHER, prompt="consent")


@app.get("/step-up/callback")
def step_up_callback():
    # The browser carried the request: acr_values may have been removed on the way. Check the answer.
    return finish_sign_in(acr=HIGHER)


# --- The claims Gatehouse gave, from the checked ID token.
@app.get("/")
def home():
    held = signed_in()
    if held is None:
        return page("<p id='signed-out'>Not signed in. <a href='/login'>Sign in</a></p>")
    access_token = held["token"]["access_token"]
    return page(
        """
        <dl>
          {% for name in ['sub', 'email', 'name', 'school_id', 'school_name', 'access_level', 'acr'] %}
          <dt>{{ name }}</dt><dd id="{{ name }}">{{ claims.get(name, '') }}</dd>
          {% endfor %}
          <dt>school_ids</dt>
          <dd><ul id="school_ids">{% for id in claims.get('school_ids', []) %}<li>{{ id }}</li>{% endfor %}</ul></dd>
          <dt>access token (SHA-256, first 16)</dt><dd id="access-token">{{ fingerprint }}</dd>
        </dl>
        <p><a href="/userinfo">Userinfo</a> · <a href="/step-up">Step up to higher access</a></p>
        <form method="post" action="/refresh"><button>Refresh the access token</button></form>
        <form method="post" action="/logout"><button>Log out</button></form>
        """,
        claims=held["claims"],
        fingerprint=hashlib.sha256(access_token.encode()).hexdigest()[:16],
    )


# --- Userinfo, with the access token (authlib refreshes it first if it has expired).
@app.get("/userinfo")
def userinfo():
    held = signed_in() or abort(401)
    info = oauth.gatehouse.userinfo(token=held["token"])
    if info["sub"] != held["claims"]["sub"]:
        abort(403)  # OIDC Core 5.3.2: userinfo must be about the person the ID token named
    return page("<pre id='userinfo'>{{ info | tojson(indent=2) }}</pre><p><a href='/'>Back</a></p>", info=info)


# --- Refresh: a new access token (and a new refresh token: Gatehouse rotates them).
@app.post("/refresh")
def refresh():
    held = signed_in() or abort(401)
    old = held["token"]
    token = oauth.gatehouse.fetch_access_token(grant_type="refresh_token", refresh_token=old["refresh_token"])
    token.setdefault("refresh_token", old["refresh_token"])
    if "id_token" in token:  # a new ID token: checked like the first, for the same person
        claims = oauth.gatehouse.parse_id_token(token, nonce=None, claims_options=id_token_rules())
        if claims["sub"] != held["claims"]["sub"]:
            abort(403)
        held["claims"] = dict(claims)
    else:
        token["id_token"] = old["id_token"]  # kept for logout's id_token_hint
    held["token"] = token
    return redirect("/")


# --- Log out: here, then at Gatehouse (RP-initiated logout), which comes back to /logged-out.
@app.post("/logout")
def logout():
    held = SIGNED_IN.pop(session.get("key"), None)
    session.clear()
    if held is None:
        return redirect("/")
    metadata = oauth.gatehouse.load_server_metadata()
    # A refresh token with offline_access outlives the Gatehouse session: revoke it.
    requests.post(
        metadata["revocation_endpoint"],
        data={"token": held["token"]["refresh_token"], "token_type_hint": "refresh_token"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    session["logout_state"] = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "id_token_hint": held["token"]["id_token"],
            "post_logout_redirect_uri": f"{BASE_URL}/logged-out",
            "state": session["logout_state"],
        }
    )
    return redirect(f"{metadata['end_session_endpoint']}?{query}")


@app.get("/logged-out")
def logged_out():
    if request.args.get("state") != session.pop("logout_state", None):
        abort(400)
    return page("<p id='logged-out'>You have logged out. <a href='/login'>Sign in again</a></p>")


def refused(reason):
    return page("<p id='refused'>Not signed in: {{ reason }}</p><p><a href='/'>Back</a></p>", reason=reason), 403


def page(body, **values):
    return render_template_string(
        "<!doctype html><html lang='en'><title>Hill Library</title><h1>Hill Library</h1>" + body + "</html>", **values
    )


if __name__ == "__main__":
    # Flask's development server; in production run `app` under a WSGI server behind TLS.
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
