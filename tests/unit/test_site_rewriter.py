"""The write-time rewriter: every reference that names a file of the version works under
``/{slug}`` and at a domain root; nothing else is touched."""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from webmagic_adapters.site_rewriter import ParserSiteRewriter, rewrite_srcset
from webmagic_core.site_files import FileLimits, SiteFiles, digest_of, normalize_path

REWRITER = ParserSiteRewriter()
LOGO = b"\x89PNG fake logo"
FONT = b"wOF2 fake font"


def site(page: str, **extra: bytes | str) -> SiteFiles:
    bodies = {"index.html": page.encode()}
    bodies.update(
        {
            k.replace("__", "/").replace("_DOT_", "."): v if isinstance(v, bytes) else v.encode()
            for k, v in extra.items()
        }
    )
    return SiteFiles.build(bodies, FileLimits())


def served(files: SiteFiles, base: str, path: str = "index.html") -> str:
    return REWRITER.rewrite(files, base).get(path, files.bodies[path]).decode()


def v(body: bytes) -> str:
    return "v=" + digest_of(body)[:16]


def attr(html: str, selector: str, name: str) -> str | None:
    node = LexborHTMLParser(html).css_first(selector)
    assert node is not None, selector
    return node.attributes.get(name)


def test_src_href_poster_and_og_image_point_under_the_base_with_fingerprints() -> None:
    files = site(
        '<html><head><link rel="icon" href="img/logo.png">'
        '<meta property="og:image" content="./img/logo.png"></head>'
        '<body><img src="img/logo.png"><video poster="img/logo.png"></video>'
        '<a href="about.html">About</a></body></html>',
        img__logo_DOT_png=LOGO,
        about_DOT_html="<p>about</p>",
    )
    for base in ("/rosas", ""):
        html = served(files, base)
        expected = f"{base}/img/logo.png?{v(LOGO)}"
        assert attr(html, "link", "href") == expected
        assert attr(html, "meta", "content") == expected
        assert attr(html, "img", "src") == expected
        assert attr(html, "video", "poster") == expected
        assert attr(html, "a", "href") == f"{base}/about.html"  # pages are not fingerprinted


@pytest.mark.parametrize(
    "reference",
    [
        "#contact",
        "?page=2",
        "https://cdn.example.test/x.png",
        "//cdn.example.test/x.png",
        "mailto:rosa@example.com",
        "tel:+15551234",
        "data:image/png;base64,AAAA",
        "javascript:void(0)",
        "../outside.png",
        "/elsewhere-on-the-host.png",
    ],
)
def test_anchors_absolute_urls_other_schemes_and_outside_paths_are_untouched(reference: str) -> None:
    files = site(f'<a href="{reference}">x</a><img src="{reference}">')
    assert REWRITER.rewrite(files, "/rosas") == {}  # nothing changed: the bytes stay as uploaded


def test_root_relative_references_to_files_of_the_site_and_home_are_based() -> None:
    files = site('<a href="/">Home</a><img src="/img/logo.png">', img__logo_DOT_png=LOGO)
    html = served(files, "/rosas")
    assert attr(html, "a", "href") == "/rosas"
    assert attr(html, "img", "src") == f"/rosas/img/logo.png?{v(LOGO)}"
    assert attr(served(files, ""), "a", "href") == "/"


def test_an_existing_query_is_kept_and_not_fingerprinted_and_fragments_survive() -> None:
    files = site(
        '<img src="img/logo.png?w=200"><a href="about.html#team">x</a>',
        img__logo_DOT_png=LOGO,
        about_DOT_html="a",
    )
    html = served(files, "/s")
    assert attr(html, "img", "src") == "/s/img/logo.png?w=200"
    assert attr(html, "a", "href") == "/s/about.html#team"


def test_srcset_candidates_are_each_rewritten_keeping_descriptors() -> None:
    files = site('<img srcset="img/a.png 1x, img/b.png 2x">', img__a_DOT_png=b"a", img__b_DOT_png=b"b")
    assert (
        attr(served(files, "/s"), "img", "srcset") == f"/s/img/a.png?{v(b'a')} 1x, /s/img/b.png?{v(b'b')} 2x"
    )


def test_srcset_parsing_keeps_commas_inside_urls() -> None:
    value = "data:image/png;base64,AA,BB 1x, img/a.png 2x"
    assert rewrite_srcset(value, lambda url: "X" if url == "img/a.png" else None) == (
        "data:image/png;base64,AA,BB 1x, X 2x"
    )


def test_css_urls_in_files_style_elements_and_style_attributes_are_rewritten() -> None:
    css = (
        '/* keep me */ @import "parts/base.css";\nbody { background: url( ../img/bg.png ) no-repeat; }\n'
        '@font-face { font-family: F; src: url("../fonts/f.woff2") format("woff2"); }'
    )
    files = site(
        "<html><head><style>h1 { background: url(img/bg.png) }</style></head>"
        "<body><p style=\"background-image: url('img/bg.png')\">x</p></body></html>",
        css__main_DOT_css=css,
        css__parts__base_DOT_css="p{}",
        img__bg_DOT_png=LOGO,
        fonts__f_DOT_woff2=FONT,
    )
    out = served(files, "/s", "css/main.css")
    assert out.startswith('/* keep me */ @import "/s/css/parts/base.css";\n')  # untouched text kept
    assert f'url( "/s/img/bg.png?{v(LOGO)}" ) no-repeat' in out  # spacing kept
    assert f'url("/s/fonts/f.woff2?{v(FONT)}") format("woff2")' in out
    html = served(files, "/s")
    assert f'url("/s/img/bg.png?{v(LOGO)}")' in LexborHTMLParser(html).css_first("style").text()
    assert f'url("/s/img/bg.png?{v(LOGO)}")' in (attr(html, "p", "style") or "")


def test_a_page_fingerprints_a_stylesheet_by_its_served_bytes() -> None:
    """The stylesheet as served carries its images' fingerprints; the page's fingerprint of
    it must change when only an image changes, or browsers would keep the old one."""
    first = site(
        '<link rel="stylesheet" href="main.css">', main_DOT_css="a{background:url(bg.png)}", bg_DOT_png=b"1"
    )
    second = site(
        '<link rel="stylesheet" href="main.css">', main_DOT_css="a{background:url(bg.png)}", bg_DOT_png=b"2"
    )
    one, two = REWRITER.rewrite(first, "/s"), REWRITER.rewrite(second, "/s")
    assert one["main.css"] != two["main.css"]
    assert attr(one["index.html"].decode(), "link", "href") == f"/s/main.css?{v(one['main.css'])}"
    assert attr(two["index.html"].decode(), "link", "href") == f"/s/main.css?{v(two['main.css'])}"


def test_the_generators_styles_and_script_are_linked_when_the_page_forgets_them() -> None:
    files = site(
        "<html><head><title>x</title></head><body>hi</body></html>", styles_DOT_css="b{}", app_DOT_js="1;"
    )
    html = served(files, "/s")
    head = LexborHTMLParser(html).head
    assert head is not None
    assert attr(head.html or "", "link", "href") == f"/s/styles.css?{v(b'b{}')}"
    assert attr(head.html or "", "script", "src") == f"/s/app.js?{v(b'1;')}"
    linked = site('<link rel="stylesheet" href="styles.css">', styles_DOT_css="b{}")
    assert served(linked, "/s").count("styles.css") == 1  # not linked twice


def test_a_page_with_nothing_to_rewrite_is_served_byte_for_byte() -> None:
    page = "<!doctype html>\n<P CLASS=x>Hello <b>world</P>\n"
    assert REWRITER.rewrite(site(page), "/s") == {}


def test_the_banner_is_inserted_at_the_end_of_the_body_by_the_parser() -> None:
    page = b"<html><body><p>x</p><!-- </body> in a comment --><script>if (a</body>) {}</script></body></html>"
    out = REWRITER.insert_banner(page, '<aside id="b">Buy</aside>').decode()
    body = LexborHTMLParser(out).body
    assert body is not None
    assert [n.tag for n in body.iter()][-1] == "aside"
    assert "if (a</body>) {}" in out  # a script's text is not mistaken for the closing tag
    assert (
        REWRITER.insert_banner(b"<p>fragment</p>", "<aside>B</aside>")
        .decode()
        .endswith("<p>fragment</p><aside>B</aside></body></html>")
    )


segment = st.text(alphabet="abcXYZ-_ é", min_size=1, max_size=6).map(str.strip).filter(bool)


@given(
    paths=st.lists(
        st.lists(segment, min_size=1, max_size=3).map("/".join), min_size=1, max_size=5, unique=True
    ),
    slug=st.from_regex(r"[a-z]{3,8}", fullmatch=True),
)
def test_every_relative_reference_to_a_file_resolves_to_that_file_under_both_bases(
    paths: list[str], slug: str
) -> None:
    """What a browser does with the rewritten page (at /{slug} or at /) lands on the file."""
    names = [p + ".png" for p in paths]
    page = "".join(f'<img src="{name}">' for name in names)
    files = SiteFiles.build({"index.html": page.encode(), **{n: n.encode() for n in names}}, FileLimits())
    for base in (f"/{slug}", ""):
        html = REWRITER.rewrite(files, base)["index.html"].decode()
        sources = [n.attributes["src"] or "" for n in LexborHTMLParser(html).css("img")]
        page_url = f"https://h.test{base or '/'}"
        for name, source in zip(names, sources, strict=True):
            url = urljoin(page_url, source)
            path = unquote(re.sub(r"^https://h\.test", "", url).split("?")[0])
            assert normalize_path(name) in files
            assert path == f"{base}/{normalize_path(name)}"


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{background:url(x.png)}", 'a{background:url("/s/x.png?V")}'),
        ("a{background:URL( 'x.png' )}", 'a{background:URL( "/s/x.png?V" )}'),
        ('@import "x.css";', '@import "/s/x.css";'),
        ("@import url(x.css) screen;", '@import url("/s/x.css") screen;'),
        # Nothing inside a comment or another string is a reference.
        ("/* url(x.png) */ a{content:'url(x.png)'}", None),
        ('a{content:"@import \\"x.css\\""}', None),
        ("/* unterminated url(x.png)", None),
        # Only the url() function, not one whose name ends in url.
        ("a{b:myurl(x.png); c:my-url(x.png)}", None),
        # Escapes are left as they are (rewriting them needs the whole escape grammar).
        (r"a{background:url('x\'.png')}", None),
        ("a{background:url(data:image/png;base64,AAAA)}", None),
        ("a{background:url(#svg-filter)}", None),
    ],
)
def test_css_references_are_found_as_css_tokens(css: str, expected: str | None) -> None:
    from webmagic_adapters.site_rewriter import rewrite_css

    def rewrite(url: str) -> str | None:
        return {"x.png": "/s/x.png?V", "x.css": "/s/x.css"}.get(url)

    assert rewrite_css(css, rewrite) == expected


@given(st.text(alphabet=st.sampled_from(list("a{}:;()/*'\"\\ @url.xpng\n")), max_size=40))
def test_css_without_references_to_site_files_is_never_changed(css: str) -> None:
    """Whatever the text, the scanner only ever replaces a reference it was asked about."""
    from webmagic_adapters.site_rewriter import rewrite_css

    assert rewrite_css(css, lambda url: None) is None
    out = rewrite_css(css, lambda url: "/Z" if url == "x.png" else None)
    if out is not None:
        assert out.replace('"/Z"', "").count("x.png") < css.count("x.png")


html_piece = st.sampled_from(
    [
        "<p>text</p>",
        "<script>var s = '</body></html>';</script>",
        "<!-- </body></html> -->",
        "<style>a{}</style>",
        "<div><span>unclosed",
        "<table><tr><td>cell",
        "<textarea>raw </body> text</textarea>",
        '<img src="a.png">',
        "<template><p>t</p></template>",
        "plain & text",
    ]
)


@given(
    pieces=st.lists(html_piece, max_size=6),
    trailer=st.sampled_from(["", "</body></html>", "\n<!-- after -->"]),
)
def test_the_banner_lands_at_the_end_of_the_body_whether_spliced_or_parsed(
    pieces: list[str], trailer: str
) -> None:
    """On a page the rewriter serialised, the banner is spliced in before the final
    ``</body></html>`` without parsing: the document is the one the parser would make."""
    page_source = '<!doctype html><html><head></head><body><img src="a.png">' + "".join(pieces) + trailer
    files = site(page_source, a_DOT_png=b"png")
    page = REWRITER.rewrite(files, "/s")["index.html"]  # serialised: the img makes it change
    banner = '<aside id="banner">Buy</aside>'
    spliced = REWRITER.insert_banner(page, banner, rewritten=True)
    parsed = REWRITER.insert_banner(page, banner)
    assert LexborHTMLParser(spliced.decode()).html == LexborHTMLParser(parsed.decode()).html
    body = LexborHTMLParser(spliced.decode()).body
    assert body is not None
    assert [n.tag for n in body.iter()][-1] == "aside"


def test_a_page_as_uploaded_is_always_parsed_for_the_banner() -> None:
    page = b"<body><script>document.write('</body></html>"  # the script runs to the end of the file
    out = REWRITER.insert_banner(page, "<aside>B</aside>", rewritten=False).decode()
    body = LexborHTMLParser(out).body
    assert body is not None
    assert [n.tag for n in body.iter()] == ["script", "aside"]
