"""Front-server configurations for static publishing (``webmagic publish nginx-config`` and
``webmagic publish caddyfile``): serve ``WEBMAGIC_PUBLISH_DIR`` and pass everything else
to the app.

The folder holds ``sites/<slug>/...`` and ``hosts/<domain>/...`` as real directories
(``static_folder``). Our own host names (the public URL's, the sites host) serve
``/{slug}/...`` from ``sites/``, every other name its root from ``hosts/<name>/``; a file
that is not there -- an unpublished, suspended or archived site, the API, the portal, a
custom domain not verified -- goes to the app, which answers as it always does (503, 404,
the API). Responses from the folder carry the headers hosting sends: ``nosniff``, the
referrer policy, the CSP sandbox when sites share the portal's origin, ``no-cache`` for
pages and a year for fingerprinted (``?v=``) files, and the pinned content types of
``webmagic_core.site_files``. A preview's page carries its ``noindex`` in its own bytes
(``<meta name="robots">``, see ``preview_banner``), so nothing is looked up per request
but the file served: the nginx configuration costs about what serving one static file
does (benchmarks/README.md). ``/internal`` (the TLS front's question) is refused at the
front, as in deploy/Caddyfile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from webmagic_core.site_files import CONTENT_TYPES

CSP_SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox"
REFERRER_POLICY = "strict-origin-when-cross-origin"
IMMUTABLE = "public, max-age=31536000, immutable"
_ADDRESS = re.compile(r"^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5}$")


class FrontConfigError(ValueError):
    """An option the configuration cannot be made from (named in the message)."""


def check_address(value: str, option: str) -> str:
    """``HOST:PORT`` (``[v6]:PORT``, or ``:PORT`` for every address)."""
    if not _ADDRESS.match(value) or not 0 < int(value.rpartition(":")[2]) < 65536:
        raise FrontConfigError(f"{option} must be HOST:PORT, such as 127.0.0.1:8000 (got {value!r})")
    return value


@attrs.frozen
class Front:
    """What both configurations are made of."""

    folder: Path
    upstream: str
    own_hosts: tuple[str, ...]
    sandboxed: bool

    @classmethod
    def of(cls, folder: Path, upstream: str, *, public_url: str, sites_host: str | None) -> Front:
        hosts = [urlsplit(public_url).hostname or ""]
        if sites_host:
            hosts.append(sites_host)
        return cls(
            folder=folder.absolute(),
            upstream=check_address(upstream, "--upstream"),
            own_hosts=tuple(dict.fromkeys(h.lower().rstrip(".") for h in hosts if h)),
            # Sites on the portal's host share its origin: hosting sends the CSP sandbox.
            sandboxed=sites_host is None,
        )


def _nginx_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _types() -> Iterable[str]:
    by_type: dict[str, list[str]] = {}
    for extension, content_type in CONTENT_TYPES.items():
        by_type.setdefault(content_type, []).append(extension)
    for content_type, extensions in by_type.items():
        yield f"        {_nginx_quote(content_type)} {' '.join(extensions)};"


def nginx_config(front: Front, listen: str) -> str:
    """A ``map`` and an ``upstream`` (http context) and two ``server { }`` blocks: our own
    host names, and every other name (custom domains)."""
    check_address(listen, "--listen")
    sites = _nginx_quote(str(front.folder / "sites"))
    hosts = _nginx_quote(f"{front.folder / 'hosts'}/$host")
    own = " ".join(_nginx_quote(host) for host in front.own_hosts)
    security = [
        "add_header X-Content-Type-Options nosniff always;",
        f"add_header Referrer-Policy {REFERRER_POLICY} always;",
        "add_header Cache-Control $webmagic_cache always;",
    ]
    if front.sandboxed:
        security += [
            f'add_header Content-Security-Policy "{CSP_SANDBOX}" always;',
            'add_header Access-Control-Allow-Origin "*" always;',
        ]
    headers = "\n".join(f"        {line}" for line in security)
    types = "\n".join(_types())
    # What a file that is not there (404), a directory (301: nginx would redirect to add
    # a slash), an unreadable file (403) or a POST to a file (405) becomes: the app's answer.
    fallback = "error_page 301 403 404 405 = @webmagic_app;"
    proxy = "\n".join(
        f"        {line}"
        for line in (
            "proxy_pass http://webmagic_app$request_uri;",
            "proxy_set_header Host $http_host;",
            "proxy_set_header X-Real-IP $remote_addr;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_http_version 1.1;",
            'proxy_set_header Connection "";',
        )
    )
    common = f"""\
    client_max_body_size 30m;
    server_tokens off;
    charset off;
    log_not_found off;  # a file that is not there is the app's to answer, not an error

    # The types hosting sends (webmagic_core.site_files), whatever mime.types says.
    types {{
{types}
    }}
    default_type application/octet-stream;

    # The TLS front's question is not for the public.
    location = /internal {{
        return 404;
    }}
    location ^~ /internal/ {{
        return 404;
    }}

    # The request as it came (a rewrite above changed $uri, not what the app is asked).
    location @webmagic_app {{
{proxy}
    }}"""
    # After the page's regex (regexes are tried in order).
    no_file = f"""\
    # A path ending in a segment without an extension (a folder, /about, the API) never
    # names a published file (every one has an extension): the app's, without a lookup.
    location ~ "/[^./]*$" {{
{proxy}
    }}"""
    return f"""\
# WebMagic: static publishing in front of the app (`webmagic publish nginx-config`).
# Include this file in nginx's http context, e.g. as /etc/nginx/conf.d/webmagic.conf.
# The folder is WEBMAGIC_PUBLISH_DIR; the app is `webmagic serve` at {front.upstream}.
# Each request looks up one file, the one it names; a file that is not there (a site
# without files: suspended, archived, unknown) and everything else go to the app.

# Pages are revalidated (cheap: 304); a file asked for with its fingerprint never changes.
map $arg_v $webmagic_cache {{
    default "{IMMUTABLE}";
    "" "no-cache";
}}

upstream webmagic_app {{
    server {front.upstream};
    keepalive 32;
}}

# Our own host names: /<slug> and /<slug>/<path> from sites/<slug>/, the rest from the app.
server {{
    listen {listen};
    server_name {own};
    root {sites};
{common}

    # The portal's home.
    location = / {{
{proxy}
    }}

    # /slug/<path>: the file itself.
    location / {{
        {fallback}
{headers}
    }}

    # /slug and /slug/: the site's page.
    location ~ "^(?<webmagic_page>/[^/]+)/?$" {{
        rewrite ^ $webmagic_page/index.html break;
        {fallback}
{headers}
    }}

{no_file}
}}

# Every other name: a verified custom domain's site at its root, from hosts/<name>/ (a
# name without a folder finds nothing there and goes to the app, which answers 404).
server {{
    listen {listen};
    server_name "~^.+$";
    root {hosts};
{common}

    location = / {{
        rewrite ^ /index.html break;
        {fallback}
{headers}
    }}

    location / {{
        {fallback}
{headers}
    }}

{no_file}
}}
"""


def caddyfile(front: Front, *, email: str | None = None, listen: str | None = None) -> str:
    """A whole Caddyfile: automatic HTTPS for our own names, on-demand TLS (asking the
    app's ``/internal/tls/ask``) for custom domains. ``listen`` (HOST:PORT) serves plain
    HTTP there instead (behind a load balancer that terminates TLS, or to try it out)."""
    if listen is not None:
        check_address(listen, "--listen")
    folder = str(front.folder)
    security = [
        "X-Content-Type-Options nosniff",
        f"Referrer-Policy {REFERRER_POLICY}",
    ]
    if front.sandboxed:
        security += [f'Content-Security-Policy "{CSP_SANDBOX}"', 'Access-Control-Allow-Origin "*"']
    headers = "\n".join(f"\t\t\t{line}" for line in security)
    globals_ = [f"\temail {email}"] if email else []
    if listen is not None:
        globals_.append(f"\tdefault_bind {listen.rpartition(':')[0].strip('[]') or '0.0.0.0'}")  # noqa: S104 - the operator's own --listen
        globals_.append("\tauto_https off")
    globals_ += [
        "\ton_demand_tls {",
        f"\t\task http://{front.upstream}/internal/tls/ask",
        "\t}",
    ]
    port = f":{listen.rpartition(':')[2]}" if listen is not None else ""
    own = ", ".join(f"{'http://' if listen else ''}{host}{port}" for host in front.own_hosts)
    other = f"http://{port}" if listen is not None else "https://"
    tls = "" if listen is not None else "\ttls {\n\t\ton_demand\n\t}\n"
    global_block = "\n".join(globals_)
    return f"""\
# WebMagic: static publishing in front of the app (`webmagic publish caddyfile`).
# The folder is WEBMAGIC_PUBLISH_DIR; the app is `webmagic serve` at {front.upstream}.
# Custom domains get a certificate on their first request, only if the app says yes
# (GET /internal/tls/ask?domain=NAME answers 200 for a verified or failing domain).
{{
{global_block}
}}

# Serve {{args.0}} (the folder's sites/ or hosts/<name>/) when the file is there, else the app.
(webmagic_front) {{
	@internal path /internal /internal/*
	respond @internal 404

	root * {folder}
	@published {{
		not path */.*
		not path /
		file {{
			try_files {{args.0}}{{path}} {{args.0}}{{path}}/index.html
		}}
	}}
	@fingerprinted query v=*
	handle @published {{
		rewrite * {{file_match.relative}}
		header {{
{headers}
			Cache-Control no-cache
		}}
		header @fingerprinted Cache-Control "{IMMUTABLE}"
		file_server
	}}
	handle {{
		encode zstd gzip
		reverse_proxy {front.upstream}
	}}
}}

# Our own host names: sites by path (/<slug>), the API and the portal.
{own} {{
	import webmagic_front /sites
}}

# Every other name: the owners' custom domains (their CNAME points at the sites host).
{other} {{
{tls}\troot * {folder}
	@home {{
		path /
		file /hosts/{{host}}/index.html
	}}
	handle @home {{
		rewrite * /hosts/{{host}}/index.html
		header {{
{headers}
			Cache-Control no-cache
		}}
		file_server
	}}
	import webmagic_front /hosts/{{host}}
}}
"""
